using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine b4m</c>: Break-for-Make on names (content K…, style …a, held-out K…a) against two LoRAs and one union LoRA.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class B4mCommandTests
{
    [Fact]
    public void Quick_PrintsOneRowPerModel_WithFractionsAndFiniteHeldOutNll()
    {
        var result = CliRun.Invoke("b4m", "--checkpoint", TinyNamesModel.File, "--quick");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("held out K…a (never trained on): 69", result.Out);
        Assert.Contains("| method | params trained (all runs) | steps (all runs) | K… of 20 samples | …a | K…a (both) | held-out K…a NLL (nats/char) | train time (s) |", result.Out);
        var rows = Regex.Matches(result.Out, @"^\| (?<method>[^|]+?) \| (?<params>[\d,]+) \| (?<steps>\d+) \| (?<k>[\d.]+) % \| (?<a>[\d.]+) % \| (?<both>[\d.]+) % \| (?<nll>[\d.]+) \| \d+ \|$", RegexOptions.Multiline);
        Assert.Equal(["base (no adapter)", "(i) LoRA_c + LoRA_s (ΔW_c + ΔW_s)", "(ii) one LoRA on the union", "(iii) B4M make", "(iv) B4M make + stage 2"], rows.Select(m => m.Groups["method"].Value));
        foreach (Match row in rows)
        {
            double nll = double.Parse(row.Groups["nll"].Value, CultureInfo.InvariantCulture);
            Assert.True(double.IsFinite(nll) && nll > 0, $"{row.Groups["method"].Value}: {nll}");
            // Both can never exceed either attribute alone.
            double both = double.Parse(row.Groups["both"].Value, CultureInfo.InvariantCulture);
            Assert.True(both <= double.Parse(row.Groups["k"].Value, CultureInfo.InvariantCulture) && both <= double.Parse(row.Groups["a"].Value, CultureInfo.InvariantCulture));
        }
        // The make adapter and the refined one hold the same number of trained entries; two LoRAs twice one LoRA.
        long Params(int i) => long.Parse(rows[i].Groups["params"].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        Assert.Equal(2 * Params(2), Params(1));
        Assert.Equal(Params(3), Params(4));
    }

    [Fact]
    public void MissingCheckpoint_IsAOneLineUserError()
    {
        var result = CliRun.Invoke("b4m", "--checkpoint", Path.Combine(CliRun.TempFolder(), "none.safetensors"), "--quick");
        CliAssert.OneLineUserError(result, "b4m", "none.safetensors");
    }
}
