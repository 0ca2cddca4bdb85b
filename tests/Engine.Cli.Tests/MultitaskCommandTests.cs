using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine multitask</c>: Poly and multitask prompt tuning on female + male names with task ids, against one LoRA per task.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class MultitaskCommandTests
{
    static readonly Lazy<string> Checkpoint = new(() =>
    {
        var path = Path.Combine(CliRun.TempFolder(), "names.safetensors");
        var train = CliRun.Invoke("train", "--steps", "2", "--eval-every", "2", "--samples", "0", "--out", path,
            "--width", "16", "--layers", "1", "--heads", "2", "--context", "12", "--batch", "4");
        Assert.True(train.ExitCode == 0, train.Error);
        return path;
    });

    [Fact]
    public void Multitask_PrintsOneRowPerMethod_WithTrainableParametersAndFinitePerTaskLosses()
    {
        var result = CliRun.Invoke("multitask", "--checkpoint", Checkpoint.Value, "--steps", "2", "--batch", "4", "--rank", "2");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("| method | trainable params | female val loss before → after | male val loss before → after | train time (s) |", result.Out);
        var rows = Regex.Matches(result.Out, @"^\| (?<method>[^|]+?) \| (?<params>[\d,]+) \| (?<f0>[\d.]+) → (?<f1>[\d.]+) \| (?<m0>[\d.]+) → (?<m1>[\d.]+) \| \d+ \|$", RegexOptions.Multiline);
        Assert.Equal(["poly", "multitask_prompt", "kind", "vl_adapter", "vl_adapter (per task)", "polyhistor", "polyhistor-lite", "lora (one per task)"],
            rows.Select(m => m.Groups["method"].Value));
        foreach (Match row in rows)
        {
            Assert.True(long.Parse(row.Groups["params"].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture) > 0);
            foreach (var g in new[] { "f0", "f1", "m0", "m1" })
            {
                double loss = double.Parse(row.Groups[g].Value, CultureInfo.InvariantCulture);
                Assert.True(double.IsFinite(loss) && loss > 0, $"{row.Groups["method"].Value} {g}: {loss}");
            }
        }
        // Poly, both VL-Adapters (the zoo preset's zero Up) and Polyhistor (W_up = 0) start at the base model: their
        // losses before are the base's, as the LoRAs' are.
        foreach (int i in new[] { 0, 3, 4, 5, 6 })
        {
            Assert.Equal(rows[i].Groups["f0"].Value, rows[^1].Groups["f0"].Value);
            Assert.Equal(rows[i].Groups["m0"].Value, rows[^1].Groups["m0"].Value);
        }
        // The per-task VL-Adapter has twice the shared one's parameters.
        long Params(int i) => long.Parse(rows[i].Groups["params"].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        Assert.Equal(2 * Params(3), Params(4));
    }

    [Fact]
    public void Multitask_WithMoreVirtualTokensThanTheContext_IsAUserError()
    {
        var result = CliRun.Invoke("multitask", "--checkpoint", Checkpoint.Value, "--steps", "1", "--batch", "2", "--rank", "12");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("lower --rank", result.Error);
    }
}
