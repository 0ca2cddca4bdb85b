using Engine.Nn;
using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary>
/// <c>engine train --sltrain</c>: the names GPT pre-trained with SLTrain's sparse + low-rank weights (issue 18). A tiny run
/// prints the replacement and the memory report, and its checkpoint is the materialised dense GPT that the other
/// commands read; bad values are one-line errors.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class SltrainTrainTests
{
    static readonly string[] Tiny = ["train", "--steps", "2", "--eval-every", "2", "--samples", "1", "--width", "16", "--layers", "1", "--heads", "2", "--context", "8", "--batch", "4"];

    [Fact]
    public void Sltrain_ReplacesTheLinears_ReportsMemory_AndSavesADenseCheckpoint()
    {
        var checkpoint = Path.Combine(CliRun.TempFolder(), "names.safetensors");
        var full = CliRun.Invoke([.. Tiny, "--out", checkpoint]);
        Assert.True(full.ExitCode == 0, full.Error);
        Assert.Contains("memory: ", full.Out);
        var fullParameters = new Gpt(ReadConfig(checkpoint)).ParameterCount();

        var train = CliRun.Invoke([.. Tiny, "--out", checkpoint, "--sltrain", "--sltrain-rank", "2", "--sltrain-density", "0.1"]);
        Assert.True(train.ExitCode == 0, train.Error);
        // One block: qkv 16→48, proj 16→16, fc 16→64, proj 64→16 (in·out 768 + 256 + 1024 + 1024 = 3072) become
        // r (in + out) + ⌊0.1 in·out⌋ = 128 + 76 + 64 + 25 + 160 + 102 + 160 + 102 = 817 parameters.
        long expected = fullParameters - 3072 + 817;
        Assert.Contains($"SLTrain: 4 Linears replaced by W = B·(s·A) + S (r 2, α 0.5, δ 0.1): {expected:N0} parameters instead of {fullParameters:N0}", train.Out);
        Assert.Contains($"memory: {expected:N0} parameters and {76 + 25 + 102 + 102} buffer entries", train.Out);
        Assert.Contains("step 2: validation loss", train.Out);

        // The checkpoint is a plain GPT of the same shape (the merge of every SLTrain layer).
        var model = new Gpt(ReadConfig(checkpoint));
        TrainingCheckpoint.Restore(checkpoint, model);
        var sample = CliRun.Invoke("sample", "--checkpoint", checkpoint, "--count", "2");
        Assert.True(sample.ExitCode == 0, sample.Error);
    }

    static GptConfig ReadConfig(string checkpoint) =>
        System.Text.Json.JsonSerializer.Deserialize<GptConfig>(TrainingCheckpoint.ReadInfo(checkpoint).Values["gpt_config"])!;

    [Theory]
    [InlineData("--sltrain-density", "1.5", true, "--sltrain-density")]
    [InlineData("--sltrain-density", "0", true, "--sltrain-density")]
    [InlineData("--sltrain-rank", "0", true, "--sltrain-rank")]
    [InlineData("--sltrain-rank", "17", true, "--sltrain-rank")]
    [InlineData("--sltrain-alpha", "-1", true, "--sltrain-alpha")]
    [InlineData("--sltrain-rank", "2", false, "--sltrain")]
    public void BadSltrainValues_AreOneLineErrors(string option, string value, bool withSltrain, string mention)
    {
        var args = new List<string>(Tiny) { "--out", Path.Combine(CliRun.TempFolder(), "x.safetensors"), option, value };
        if (withSltrain) args.Add("--sltrain");
        CliAssert.OneLineUserError(CliRun.Invoke([.. args]), "train", mention);
    }
}
