using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Sparse;

/// <summary>
/// PST (and SaRA) against folders written by tests/golden/make_gpt2_pst_sara_golden.py: the reference code's math in
/// plain PyTorch on GPT-2's c_attn. PST's gradients are the straight-through ones of training mode (the reference's
/// SparseBinarizer), so its gradient check runs in training mode.
/// </summary>
public class PstSaraGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-pst", 2)]
    [InlineData("gpt2-tiny-sara", 2)]
    public void LoadsAndGivesPyTorchLogits(string fixture, int adaptedLayers) => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Fact]
    public void Pst_GradientsAndOneAdamWStepMatchPyTorch() => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch("gpt2-tiny-pst", output, training: true);

    [Fact]
    public void Sara_GradientsAndOneAdamWStepMatchPyTorch() => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch("gpt2-tiny-sara", output);
}
