using Engine.Nn;
using Engine.Nn.Checkpoints;
using Engine.Peft;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine finetune</c>: the downstream job with every method on a tiny names model.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class FinetuneTests
{
    static readonly Lazy<string> Checkpoint = new(() =>
    {
        var path = Path.Combine(CliRun.TempFolder(), "names.safetensors");
        var train = CliRun.Invoke("train", "--steps", "2", "--eval-every", "2", "--samples", "0", "--out", path,
            "--width", "16", "--layers", "1", "--heads", "2", "--context", "12", "--batch", "4");
        Assert.True(train.ExitCode == 0, train.Error);
        return path;
    });

    public static TheoryData<string> Methods => new("lora", "dora", "adalora", "vera", "ia3", "prefix", "prompt", "bottleneck", "full");

    [Theory]
    [MemberData(nameof(Methods))]
    public void Finetune_ReportsParametersLossesSpeedAndMemoryAndSavesTheAdapter(string method)
    {
        var folder = Path.Combine(CliRun.TempFolder(), "adapter");
        var result = CliRun.Invoke("finetune", "--checkpoint", Checkpoint.Value, "--adapter", method, "--steps", "3", "--batch", "4", "--rank", "2", "--out", folder);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Matches(@"trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: \d+\.\d{4}", result.Out);
        Assert.Matches(@"validation loss before: \d+\.\d{4}", result.Out);
        Assert.Matches(@"validation loss after 3 steps: \d+\.\d{4}", result.Out);
        Assert.Matches(@"step time: [\d.]+ ms \(\d+ tokens/s\); peak memory \(working set\): \d+ MiB", result.Out);
        if (method == "full")
        {
            Assert.True(File.Exists(Path.Combine(folder, "model.safetensors")));
            return;
        }
        // The saved adapter is a PEFT folder that `engine logits --adapter` applies.
        Assert.True(File.Exists(Path.Combine(folder, AdapterFiles.ConfigFileName)));
        var logits = CliRun.Invoke("logits", "--model", Checkpoint.Value, "--ids", "1,2,3", "--adapter", folder, "--out", Path.Combine(folder, "l.safetensors"));
        Assert.True(logits.ExitCode == 0, logits.Error);
    }

    [Fact]
    public void Finetune_WithAnUnknownMethod_IsAUserError()
    {
        var result = CliRun.Invoke("finetune", "--checkpoint", Checkpoint.Value, "--adapter", "magic");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("'magic' is not one of lora", result.Error);
    }
}
