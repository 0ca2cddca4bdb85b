using Xunit;

namespace Engine.Cli.Tests;

/// <summary>Sizes that cannot fit in memory are refused from an estimate before any work, instead of ending in an out-of-memory crash.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class MemoryLimitTests
{
    [Theory]
    [InlineData("train --context 5000", "--context 5000")]
    [InlineData("state-tracking --steps 5 --length 100000", "--length 100000")]
    [InlineData("long-range --length 1000000", "--length 1000000")]
    [InlineData("classify --length 1000000", "--length 1000000")]
    public void SizeBeyondTheMemory_IsRefusedBeforeAnyWork(string args, string mention)
    {
        var words = args.Split(' ');
        var result = CliRun.Invoke(words);
        CliAssert.OneLineUserError(result, words[0], mention, "memory");
        Assert.DoesNotContain("step", result.Out);
    }

    [Theory]
    [InlineData("sample", "--count", "1000000")]
    [InlineData("finetune", "--rank", "10000000")]
    public void SizeBeyondTheMemory_OnACheckpoint_IsRefusedBeforeAnyWork(string command, string option, string value)
    {
        var result = CliRun.Invoke(command, "--checkpoint", TinyNamesModel.File, option, value);
        CliAssert.OneLineUserError(result, command, $"{option} {value}", "memory");
        Assert.Equal("", result.Out);
    }

    [Fact]
    public void TheEstimate_GrowsWithTheSizesAndAdmitsTheDefaults()
    {
        var config = new Engine.Nn.GptConfig(60, 32, 64, 4, 4);
        double defaults = MemoryEstimate.Gpt(config, 32, 32, training: true);
        // Parameters alone: 16 bytes each when training (weights, gradients, two AdamW moments).
        double parameters = 60 * 64 + 32 * 64 + 4 * 12.0 * 64 * 64;
        Assert.True(defaults > 16 * parameters);
        Assert.True(defaults < MemoryEstimate.Available);
        // Attention's scores grow with the square of the context.
        double longer = MemoryEstimate.Gpt(config with { ContextLength = 5000 }, 32, 5000, training: true);
        Assert.True(longer > MemoryEstimate.Available);
    }
}
