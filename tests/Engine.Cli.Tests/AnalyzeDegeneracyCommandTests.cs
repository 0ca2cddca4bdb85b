using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary>
/// <c>engine analyze llc</c> and <c>engine analyze lib</c> (spec seeds-remaining.md §9) in their quick modes: the tables
/// they print and write, and one-line user errors for bad options.
/// </summary>
[Collection(ConsoleCollection.Name)]
public class AnalyzeDegeneracyCommandTests
{
    [Fact]
    public void Llc_Quick_MeasuresEachCheckpointOfBothRuns_AndWritesTheCsv()
    {
        var file = Path.Combine(CliRun.TempFolder(), "llc.csv");
        var svg = Path.Combine(CliRun.TempFolder(), "llc.svg");
        var result = CliRun.Invoke("analyze", "llc", "--quick", "--out", file, "--plot", svg);
        Assert.True(result.ExitCode == 0, result.Error);
        var rows = Regex.Matches(result.Out, @"^\| (names|shuffled) \| (\d+) \| (\d+\.\d{4}) \| (\d+\.\d{4}) \| (-?\d+\.\d{2}) \|", RegexOptions.Multiline);
        Assert.Equal(["names 0", "names 4", "shuffled 0", "shuffled 4"], rows.Select(m => $"{m.Groups[1].Value} {m.Groups[2].Value}"));
        var csv = File.ReadAllLines(file);
        Assert.Equal("run,step,init_loss,validation_loss,llc,llc_std,nbeta,chain_llcs", csv[0]);
        Assert.Equal(5, csv.Length);
        // nβ = n / log n is printed and written; λ̂ in the CSV matches the table's.
        double nBeta = double.Parse(csv[1].Split(',')[6], CultureInfo.InvariantCulture);
        Assert.Matches(FormattableString.Invariant($"nβ = {nBeta:F1}"), result.Out);
        Assert.Equal(double.Parse(rows[0].Groups[5].Value, CultureInfo.InvariantCulture), double.Parse(csv[1].Split(',')[4], CultureInfo.InvariantCulture), 2);
        var picture = File.ReadAllText(svg);
        Assert.Contains("<svg", picture);
        Assert.Contains("shuffled", picture);
    }

    [Fact]
    public void Lib_Quick_PrintsDimensionsAndTheAblationCurve()
    {
        var svg = Path.Combine(CliRun.TempFolder(), "lib.svg");
        var result = CliRun.Invoke("analyze", "lib", "--quick", "--plot", svg);
        Assert.True(result.ExitCode == 0, result.Error);
        var hidden = Regex.Match(result.Out, @"^\| MLP hidden GELU \| 33 \| (\d+) \| (\d+) \|", RegexOptions.Multiline);
        Assert.True(hidden.Success, result.Out);
        Assert.True(int.Parse(hidden.Groups[2].Value) <= int.Parse(hidden.Groups[1].Value), "LIB keeps at most G's rank");
        var ablation = Regex.Matches(result.Out, @"^\| (\d+) \| (-?\d+\.\d{4}) \| (-?\d+\.\d{4}) \|$", RegexOptions.Multiline);
        Assert.NotEmpty(ablation);
        Assert.Equal(hidden.Groups[2].Value, ablation[0].Groups[1].Value);
        // Keeping every LIB direction is the identity on the data: no loss change.
        Assert.Equal(0, double.Parse(ablation[0].Groups[2].Value, CultureInfo.InvariantCulture), 3);
        Assert.Contains("PCA (largest D)", File.ReadAllText(svg));
    }

    [Theory]
    [InlineData("llc", "--checkpoints", "0,x", "--checkpoints")]
    [InlineData("llc", "--control", "reversed", "--control")]
    [InlineData("llc", "--heads", "5", "--heads")]
    [InlineData("lib", "--truncation", "1", "--truncation")]
    public void BadOptions_AreAOneLineUserError(string tool, string option, string value, string mention)
        => CliAssert.OneLineUserError(CliRun.Invoke("analyze", tool, option, value), tool, mention);
}
