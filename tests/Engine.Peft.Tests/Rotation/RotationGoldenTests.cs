using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Rotation;

/// <summary>
/// HRA, RoAd and OSF adapters in PEFT's layout on the Hugging Face GPT-2 fixture's lm_head (tests/golden/
/// make_gpt2_rotation_golden.py): PyTorch's logits, gradients and logits after one AdamW step (<see cref="PeftGoldenCheck"/>).
/// OSF's file lacks the frozen high part (rebuilt from the SVD of the weight) and its golden gradients are PEFT's
/// projected ones, which the engine computes in training mode.
/// </summary>
public class RotationGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-hra")]
    [InlineData("gpt2-tiny-hra-gs")]
    [InlineData("gpt2-tiny-road")]
    [InlineData("gpt2-tiny-road-4")]
    [InlineData("gpt2-tiny-osf")]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, 1);

    [Theory]
    [InlineData("gpt2-tiny-hra", false)]
    [InlineData("gpt2-tiny-hra-gs", false)]
    [InlineData("gpt2-tiny-road", false)]
    [InlineData("gpt2-tiny-road-4", false)]
    [InlineData("gpt2-tiny-osf", true)]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture, bool training)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output, training);
}
