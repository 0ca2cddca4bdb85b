using System.Text.RegularExpressions;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine mmrl</c> (MMRL++'s text-only demo, spec seeds-remaining.md §5) in a quick configuration.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class MmrlCommandTests
{
    [Fact]
    public void QuickRun_ReportsEveryMethod_WithTheSpecsTrainableCount()
    {
        var run = CliRun.Invoke("mmrl", "--shots", "2", "--epochs", "1", "--length", "16", "--held-out", "8");
        Assert.True(run.ExitCode == 0, run.Error);
        // n·d_r + 2·[d_m·d_r + 3·(4·d_m + 4·d_r + d_m)] + 2·d_m·16 with n = 5, d_r = 256, d_m = 384.
        Assert.Contains("227,840 trainable parameters", run.Out);
        foreach (var method in new[] { "zero-shot", "linear probe", "MMRL\\+\\+, class logits only", "MMRL\\+\\+, representation logits only", "MMRL\\+\\+, decoupled" })
            Assert.Matches($@"^\| {method}[^|]* \| \d+\.\d% \|", Regex.Match(run.Out, $"^\\| {method}.*$", RegexOptions.Multiline).Value);

        var tooMany = CliRun.Invoke("mmrl", "--shots", "512", "--epochs", "1", "--length", "8", "--held-out", "4");
        Assert.Equal(2, tooMany.ExitCode);
        Assert.Contains("--shots 512", tooMany.Error);
    }
}
