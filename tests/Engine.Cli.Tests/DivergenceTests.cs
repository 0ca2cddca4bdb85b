using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary>A loss that turns NaN stops training with a message naming the step, and the last good checkpoint stays.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class DivergenceTests
{
    [Fact]
    public void NonFiniteLoss_StopsTraining_NamingTheStep_AndKeepsTheLastValidatedCheckpoint()
    {
        var checkpoint = Path.Combine(CliRun.TempFolder(), "names.safetensors");
        // A learning rate of 1e8 keeps the first step's weights finite and overflows after the second (seed 1).
        var result = CliRun.Invoke("train", "--lr", "1e8", "--steps", "50", "--eval-every", "1", "--samples", "0", "--out", checkpoint,
            "--width", "16", "--layers", "1", "--heads", "2", "--context", "12", "--batch", "4");
        CliAssert.OneLineUserError(result, "train", "step", "NaN", checkpoint, "--lr");
        var info = TrainingCheckpoint.ReadInfo(checkpoint);
        var failed = int.Parse(System.Text.RegularExpressions.Regex.Match(result.Error, @"at step (\d+)").Groups[1].Value);
        Assert.True(info.Step >= 1 && info.Step < failed, $"checkpoint step {info.Step}, failed at {failed}");
        Assert.Contains($"keeps step {info.Step}", result.Error);
        // The kept weights are the good ones: all finite.
        var weights = Safetensors.Load(checkpoint).Where(kv => kv.Key.StartsWith("model.")).ToList();
        Assert.NotEmpty(weights);
        foreach (var (name, tensor) in weights)
            Assert.True(tensor.ToArray<float>().All(float.IsFinite), $"{name} is not finite");
    }
}
