using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.SparseTuning;

/// <summary>
/// SPT and SNELL against folders written by tests/golden/make_gpt2_sparsetuning_golden.py (the reference code's math in
/// plain PyTorch: SNELL's cdist kernel and torch.quantile threshold, SPT's B A and scattered sparse values).
/// </summary>
public class SparseTuningGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-snell", 4)]
    [InlineData("gpt2-tiny-snell-dense", 2)]
    [InlineData("gpt2-tiny-spt", 5)]
    public void LoadsAndGivesPyTorchLogits(string fixture, int adaptedLayers) => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-snell")]
    [InlineData("gpt2-tiny-snell-dense")]
    [InlineData("gpt2-tiny-spt")]
    public void GradientsAndOneAdamWStepMatchPyTorch(string fixture) => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
