using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine analyze reachability</c> (issue 23, spec seeds-remaining.md §8) on the tiny names model.</summary>
[Collection(ConsoleCollection.Name)]
public class ReachabilityCommandTests
{
    static double Percent(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    [Fact]
    public void PrintsFractionsPerK_ExactAtLeastGreedy_AndWritesThePlot()
    {
        string plot = Path.Combine(CliRun.TempFolder(), "reach.svg");
        var result = CliRun.Invoke("analyze", "reachability", "--checkpoint", TinyNamesModel.File, "--prefixes", "2", "--max-k", "1",
            "--gcg-lengths", "4", "--gcg-iterations", "1", "--gcg-swaps", "4", "--plot", plot);
        Assert.True(result.ExitCode == 0, result.Error + result.Out);
        var rows = Regex.Matches(result.Out, @"^\| (\d+) \| ([\d.]+ %|-) \| ([\d.]+ %|-) \| ([\d.]+ %|-) \|\s*$", RegexOptions.Multiline);
        Assert.Equal(["0", "1", "2", "3", "4"], rows.Select(r => r.Groups[1].Value));
        double previous = 0;
        foreach (Match row in rows)
        {
            int k = int.Parse(row.Groups[1].Value);
            double backoff = Percent(row.Groups[4].Value.TrimEnd(' ', '%'));
            Assert.True(backoff >= previous, result.Out);
            previous = backoff;
            if (k > 1) { Assert.Equal("-", row.Groups[2].Value); continue; }
            // Greedy at k ≤ 1 is the exhaustive search: it reaches exactly what enumeration reaches.
            Assert.Equal(row.Groups[2].Value, row.Groups[3].Value);
        }
        Assert.Matches(@"\| 0 \| 2 \| 100\.0 % \| 100\.0 % \| 100\.0 % \|", result.Out);
        Assert.Contains("(x0, y*) pairs in", result.Out);
        Assert.StartsWith("<?xml", File.ReadAllText(plot));
        Assert.Contains($"plot: {plot}", result.Out);
    }

    [Fact]
    public void WithoutGcg_AndWithoutTheBoundary_TheTableStopsAtTheGreedyLengths()
    {
        var result = CliRun.Invoke("analyze", "reachability", "--checkpoint", TinyNamesModel.File, "--prefixes", "1", "--max-k", "0", "--gcg-lengths", "--without-boundary");
        Assert.True(result.ExitCode == 0, result.Error + result.Out);
        Assert.DoesNotContain("^", Regex.Match(result.Out, "imposed states.*").Value.Split(':')[1]);
        Assert.Matches(@"(?m)^\| 3 \| - \| [\d.]+ % \| [\d.]+ % \|\s*$", result.Out);
        Assert.DoesNotMatch(@"(?m)^\| 4 \|", result.Out);
    }

    [Fact]
    public void BadInputs_AreOneLineErrors()
    {
        string missing = Path.Combine(CliRun.TempFolder(), "none.safetensors");
        CliAssert.OneLineUserError(CliRun.Invoke("analyze", "reachability", "--checkpoint", missing), "reachability", missing);
        CliAssert.OneLineUserError(CliRun.Invoke("analyze", "reachability", "--checkpoint", TinyNamesModel.File, "--gcg-lengths", "6", "4"), "reachability", "--gcg-lengths");
        // The tiny model's context is 12: 10 control tokens before a boundary and up to 4 characters do not fit.
        CliAssert.OneLineUserError(CliRun.Invoke("analyze", "reachability", "--checkpoint", TinyNamesModel.File, "--prefixes", "4", "--gcg-lengths", "10"), "reachability", "context of 12");
        Assert.Equal(2, CliRun.Invoke("analyze", "reachability", "--checkpoint", TinyNamesModel.File, "--max-k", "4").ExitCode);
    }
}
