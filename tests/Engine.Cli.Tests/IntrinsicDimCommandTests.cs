using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine intrinsic-dim</c>: the d_int90 search (arXiv 1804.08838; issue 18) on a tiny random names GPT.</summary>
[Collection(ConsoleCollection.Name)]
public class IntrinsicDimCommandTests
{
    static readonly string[] Tiny = ["--steps", "2", "--batch", "2", "--width", "16", "--layers", "1", "--heads", "2", "--context", "12"];

    [Fact]
    public void TrainsEachDimensionAndTheFullModel_AndWritesTheTableWithDint90()
    {
        var file = Path.Combine(CliRun.TempFolder(), "intrinsic.csv");
        var result = CliRun.Invoke(["intrinsic-dim", "--dims", "30,10", "--out", file, .. Tiny]);
        Assert.True(result.ExitCode == 0, result.Error);
        var start = Regex.Match(result.Out, @"^\| start \(no training\) \| 0 \| (\d+\.\d{4}) \| 0 % \|$", RegexOptions.Multiline);
        var full = Regex.Match(result.Out, @"^\| full \| [\d,]+ \| (\d+\.\d{4}) \| 100 % \|$", RegexOptions.Multiline);
        Assert.True(start.Success && full.Success, result.Out);
        double initial = double.Parse(start.Groups[1].Value, CultureInfo.InvariantCulture), final = double.Parse(full.Groups[1].Value, CultureInfo.InvariantCulture);
        // Rows in ascending d, each with d trainable coordinates and its share of the gap recomputed from the printed losses.
        var rows = Regex.Matches(result.Out, @"^\| (\d+) \| ([\d,]+) \| (\d+\.\d{4}) \| (-?\d+\.\d) % \|$", RegexOptions.Multiline);
        Assert.Equal(["10", "30"], rows.Select(m => m.Groups[1].Value));
        foreach (Match m in rows)
        {
            Assert.Equal(m.Groups[1].Value, m.Groups[2].Value);
            double loss = double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
            Assert.Equal(100 * (initial - loss) / (initial - final), double.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture), 0);
        }
        Assert.Matches(@"d_int90 (= \d+|> 30|undefined)", result.Out);
        var csv = File.ReadAllLines(file);
        Assert.Equal("run,d,trainable,validation_loss,gap_closed", csv[0]);
        Assert.Equal(["start", "subspace", "subspace", "full", "d_int90"], csv.Skip(1).Select(l => l.Split(',')[0]));
    }

    [Theory]
    [InlineData("--dims", "10,x", "--dims", "positive whole numbers")]
    [InlineData("--dims", "0", "--dims", "positive whole numbers")]
    [InlineData("--dims", "100000", "intrinsic_dim", "between 1 and")]
    [InlineData("--projection", "gaussian", "--projection", "gaussian")]
    public void BadDimensionsOrProjection_AreAOneLineUserError(string option, string value, string mention1, string mention2)
        => CliAssert.OneLineUserError(CliRun.Invoke(["intrinsic-dim", option, value, .. Tiny]), "intrinsic-dim", mention1, mention2);

    [Fact]
    public void ADenseProjectionTooLargeToHold_IsAOneLineUserError()
        => CliAssert.OneLineUserError(CliRun.Invoke(["intrinsic-dim", "--projection", "dense", "--dims", "3000", "--width", "256", "--layers", "2", "--heads", "2", "--steps", "1"]),
            "intrinsic-dim", "dense projection", "fastfood");
}
