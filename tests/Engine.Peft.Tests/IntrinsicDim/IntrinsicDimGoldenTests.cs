using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.IntrinsicDim;

/// <summary>
/// Intrinsic-dimension folders (tests/golden/make_gpt2_intrinsic_golden.py): the script draws P from the seed with its
/// own numpy copy of the engine's Philox stream and writes the three projections and the model in plain PyTorch, so
/// the engine's P, drawn again from the saved seed and kind, must give PyTorch's logits, gradient of θ^(d) and AdamW step.
/// </summary>
public class IntrinsicDimGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-intrinsic")]
    [InlineData("gpt2-tiny-intrinsic-dense")]
    [InlineData("gpt2-tiny-intrinsic-sparse")]
    public void IntrinsicDimAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, 4);

    [Theory]
    [InlineData("gpt2-tiny-intrinsic")]
    [InlineData("gpt2-tiny-intrinsic-dense")]
    [InlineData("gpt2-tiny-intrinsic-sparse")]
    public void IntrinsicDimAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
