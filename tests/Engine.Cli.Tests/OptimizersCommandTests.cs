using Xunit;

namespace Engine.Cli.Tests;

/// <summary>
/// <c>engine optimizers</c> (issue 21) at tiny settings: one table row per optimiser with one entry per swept rate,
/// AdamW run as the baseline when not asked for, the width-rule table with one row per width and rule, and an
/// unknown optimiser refused in one line.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class OptimizersCommandTests
{
    static readonly string[] Tiny = ["optimizers", "--steps", "2", "--eval-every", "1", "--width", "8", "--layers", "1", "--heads", "2", "--context", "8", "--batch", "2"];

    // The markdown table's body rows: lines that start with "| " after the header and its "|---" rule.
    static List<string[]> TableRows(string output)
    {
        var lines = output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        int rule = lines.FindIndex(l => l.StartsWith("|---", StringComparison.Ordinal));
        Assert.True(rule > 0, "no table in: " + output);
        return lines.Skip(rule + 1).TakeWhile(l => l.StartsWith("| ", StringComparison.Ordinal))
            .Select(l => l.Trim('|').Split('|').Select(c => c.Trim()).ToArray()).ToList();
    }

    [Fact]
    public void Table_HasOneRowPerOptimizer_WithOneEntryPerSweptRate()
    {
        var run = CliRun.Invoke([.. Tiny, "--optimizers", "adamw", "lion", "muon", "--lr-factors", "0.5", "1", "2", "4"]);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.StartsWith("CPU: ", run.Out);
        var rows = TableRows(run.Out);
        Assert.Equal(["adamw", "lion", "muon"], rows.Select(r => r[0]));
        foreach (var row in rows) Assert.Equal(4, row[1].Split(';').Length);
        // Lion's rates are its preset's 2e-3 times each factor.
        Assert.Equal(["0.001", "0.002", "0.004", "0.008"], rows[1][1].Split(';').Select(e => e.Split('→')[0].Trim()));
        // AdamW's best run reaches its own final loss at the budget, no earlier by definition of "final".
        Assert.True(int.Parse(rows[0][4]) <= 2);
    }

    [Fact]
    public void AdamW_IsRunAsTheBaseline_WhenNotRequested()
    {
        var run = CliRun.Invoke([.. Tiny, "--optimizers", "lion", "--lr-factors", "1"]);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Equal(["adamw", "lion"], TableRows(run.Out).Select(r => r[0]));
    }

    [Fact]
    public void UnknownOptimizer_IsAOneLineError()
    {
        var run = CliRun.Invoke([.. Tiny, "--optimizers", "adamw", "adagrad"]);
        CliAssert.OneLineUserError(run, "optimizers", "--optimizers", "'adagrad'", "muon");
        Assert.Equal("", run.Out);
    }

    [Fact]
    public void WidthRule_HasOneRowPerWidthAndRule()
    {
        var run = CliRun.Invoke([.. Tiny, "--width-rule", "--widths", "8", "16", "--base-width", "8"]);
        Assert.True(run.ExitCode == 0, run.Error);
        var rows = TableRows(run.Out);
        Assert.Equal(4, rows.Count);
        Assert.Equal(
            new[] { (8, "with"), (8, "without"), (16, "with"), (16, "without") },
            rows.Select(r => (int.Parse(r[0]), r[1])).Order());
        // At the base width the rule changes nothing: same rates, so the same run and the same singular value.
        var atBase = rows.Where(r => r[0] == "8").ToList();
        Assert.Equal(atBase[0][5], atBase[1][5]);
        // Above it, the hidden rate halves and the decay grows by √2 (§3.2).
        var wide = rows.Single(r => r[0] == "16" && r[1] == "with");
        Assert.Equal("0.0015", wide[2]);
        Assert.Equal("0.141", wide[3]);
        Assert.Contains("σ_max spread across widths", run.Out);
    }
}
