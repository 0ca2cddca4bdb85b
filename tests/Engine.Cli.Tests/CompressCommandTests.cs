using System.Globalization;
using Engine.Nn.Compression;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary>
/// `engine compress --bitstack|--fwsvd` on the tiny names checkpoint, and `engine sample` reading what it writes:
/// a budget loads exactly the configuration the saved plan allows, full-rank FWSVD keeps the original loss, and every
/// refused input is one line with exit code 2.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class CompressCommandTests
{
    static readonly Lazy<(string Path, CliResult Result)> BitStack = new(() =>
    {
        var path = Path.Combine(CliRun.TempFolder(), "tiny.bitstack.safetensors");
        var result = CliRun.Invoke("compress", "--bitstack", "--checkpoint", TinyNamesModel.File, "--out", path,
            "--blocks", "3", "--rank", "1", "--calibration-batches", "1", "--report");
        return (path, result);
    });

    static string Kb(long bytes) => (bytes / 1024.0).ToString("F1", CultureInfo.InvariantCulture);

    [Fact]
    public void BitStack_WritesAFileWithItsPlan_AndPrintsTheReportTable()
    {
        var (path, result) = BitStack.Value;
        Assert.True(result.ExitCode == 0, result.Error);
        var (plan, weights, blocks) = BitStackFile.ReadPlan(path);
        Assert.Equal(3, blocks);
        Assert.Equal(4, weights.Count); // one block: qkv, o, fc, proj
        Assert.Equal((blocks - 1) * weights.Count, plan.Order.Count);
        var rows = result.Out.Split('\n').Where(l => l.StartsWith("| ") && l.Contains("% |")).ToList();
        Assert.Equal(10, rows.Count);
        Assert.Contains($"| {Kb(plan.CumulativeBytes[^1])} |", rows[^1]);
        Assert.Contains("| original (Float32) |", result.Out);
    }

    [Fact]
    public void Sample_WithABudget_LoadsTheLargestPrefixUnderIt()
    {
        var (path, _) = BitStack.Value;
        var (plan, _, _) = BitStackFile.ReadPlan(path);
        long budget = plan.CumulativeBytes[3] + 1;
        var sample = CliRun.Invoke("sample", "--checkpoint", path, "--memory-budget", budget.ToString(CultureInfo.InvariantCulture), "--count", "3");
        Assert.True(sample.ExitCode == 0, sample.Error);
        Assert.Contains($"BitStack: {Kb(plan.CumulativeBytes[3])} KB, {4 + 3} blocks", sample.Error);
        Assert.Equal(3, sample.Out.Count(c => c == '\n')); // one line per name (an untrained model may sample empty ones)

        var all = CliRun.Invoke("sample", "--checkpoint", path, "--memory-budget", "1GB", "--count", "1");
        Assert.True(all.ExitCode == 0, all.Error);
        Assert.Contains($"BitStack: {Kb(plan.CumulativeBytes[^1])} KB, 12 blocks", all.Error);
    }

    [Fact]
    public void Sample_BudgetBelowTheMinimum_IsOneLineError()
    {
        var (path, _) = BitStack.Value;
        CliAssert.OneLineUserError(CliRun.Invoke("sample", "--checkpoint", path, "--memory-budget", "1KB"), "sample", "--memory-budget 1KB", "below the smallest");
    }

    [Theory]
    [InlineData("2XB")]
    [InlineData("-3MB")]
    [InlineData("0")]
    public void Sample_BadBudget_IsOneLineError(string budget) =>
        CliAssert.OneLineUserError(CliRun.Invoke("sample", "--checkpoint", BitStack.Value.Path, "--memory-budget", budget), "sample", "--memory-budget");

    [Fact]
    public void Sample_BudgetOnAPlainCheckpoint_IsOneLineError() =>
        CliAssert.OneLineUserError(CliRun.Invoke("sample", "--checkpoint", TinyNamesModel.File, "--memory-budget", "2MB"), "sample", "--memory-budget", "not one");

    [Fact]
    public void Fwsvd_FullRankKeepsTheOriginalLoss_AndSampleReadsTheFactorisedModel()
    {
        var path = Path.Combine(CliRun.TempFolder(), "tiny.fwsvd.safetensors");
        var result = CliRun.Invoke("compress", "--fwsvd", "--rank", "16", "--checkpoint", TinyNamesModel.File, "--out", path, "--calibration-batches", "1");
        Assert.True(result.ExitCode == 0, result.Error);
        string Loss(string model) => result.Out.Split('\n').Single(l => l.StartsWith($"| {model}")).Split('|', StringSplitOptions.TrimEntries)[^2];
        Assert.Equal(Loss("original"), Loss("SVD r=16"));
        Assert.Equal(Loss("original"), Loss("FWSVD r=16, output rows"));
        Assert.Equal(Loss("original"), Loss("FWSVD r=16, input columns"));
        var sample = CliRun.Invoke("sample", "--checkpoint", path, "--count", "2");
        Assert.True(sample.ExitCode == 0, sample.Error);
        CliAssert.OneLineUserError(CliRun.Invoke("compress", "--bitstack", "--checkpoint", path, "--out", Path.Combine(CliRun.TempFolder(), "z.safetensors")), "compress", "already compressed");
    }

    [Fact]
    public void BitStack_WithScaling_AllBlocksKeepTheValidationLossClose()
    {
        var path = Path.Combine(CliRun.TempFolder(), "tiny.scaled.safetensors");
        var result = CliRun.Invoke("compress", "--bitstack", "--scale-activations", "--checkpoint", TinyNamesModel.File, "--out", path,
            "--blocks", "8", "--rank", "2", "--calibration-batches", "1", "--report");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("activation-aware scaling of 3 weights: 0.qkv, 0.o, 0.fc", result.Out);
        double Loss(string start) => double.Parse(result.Out.Split('\n').Single(l => l.StartsWith(start)).Split('|', StringSplitOptions.TrimEntries)[^2], CultureInfo.InvariantCulture);
        // Eight blocks of a 16-wide model leave a residual of a few percent: the loss moves in the second decimal at most.
        Assert.True(Math.Abs(Loss("| original") - Loss("| 32 | 100%")) < 0.05, result.Out);
    }

    [Fact]
    public void Fwsvd_LowRank_HasFewerParameters()
    {
        var path = Path.Combine(CliRun.TempFolder(), "tiny.fwsvd2.safetensors");
        var result = CliRun.Invoke("compress", "--fwsvd", "--rank", "2", "--fisher-axis", "columns", "--checkpoint", TinyNamesModel.File, "--out", path, "--calibration-batches", "1");
        Assert.True(result.ExitCode == 0, result.Error);
        long Linear(string model) => long.Parse(result.Out.Split('\n').Single(l => l.StartsWith($"| {model}")).Split('|', StringSplitOptions.TrimEntries)[3], NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        // One block of width 16: qkv [48, 16], o [16, 16], fc [64, 16], proj [16, 64]; rank 2 keeps 2·(in + out) each plus the biases.
        long biases = 48 + 16 + 64 + 16;
        Assert.Equal(48 * 16 + 16 * 16 + 64 * 16 + 16 * 64 + biases, Linear("original"));
        Assert.Equal(2 * (64 + 32 + 80 + 80) + biases, Linear("FWSVD r=2, input columns (saved)"));
    }

    [Theory]
    [InlineData(new[] { "--out", "x.safetensors" }, "exactly one of --bitstack and --fwsvd")]
    [InlineData(new[] { "--bitstack", "--fwsvd", "--out", "x.safetensors" }, "exactly one of --bitstack and --fwsvd")]
    [InlineData(new[] { "--fwsvd", "--out", "x.safetensors" }, "--rank")]
    [InlineData(new[] { "--fwsvd", "--rank", "17", "--out", "x.safetensors" }, "--rank 17")]
    [InlineData(new[] { "--bitstack" }, "--out")]
    [InlineData(new[] { "--fwsvd", "--rank", "2", "--report", "--out", "x.safetensors" }, "--report")]
    [InlineData(new[] { "--fwsvd", "--rank", "2", "--scale-activations", "--out", "x.safetensors" }, "--scale-activations")]
    public void BadOptions_AreOneLineErrors(string[] options, string mention)
    {
        var folder = CliRun.TempFolder();
        var args = new[] { "compress", "--checkpoint", TinyNamesModel.File }.Concat(options.Select(o => o == "x.safetensors" ? Path.Combine(folder, o) : o)).ToArray();
        CliAssert.OneLineUserError(CliRun.Invoke(args), "compress", mention);
        Assert.False(File.Exists(Path.Combine(folder, "x.safetensors")));
    }

    [Fact]
    public void Compress_OfABitStackFile_IsOneLineError() =>
        CliAssert.OneLineUserError(CliRun.Invoke("compress", "--fwsvd", "--rank", "2", "--checkpoint", BitStack.Value.Path, "--out", Path.Combine(CliRun.TempFolder(), "y.safetensors")),
            "compress", "BitStack file");
}
