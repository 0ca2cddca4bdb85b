using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Elementwise;

/// <summary>
/// The elementwise family against PEFT-format folders written by tests/golden/make_gpt2_elementwise_golden.py: HiRA on
/// GPT-2's Conv1D (as PEFT), BEFT, Super-Tuning (sparse and Supra) and GLoRA on lm_head (PEFT's only nn.Linear in
/// GPT-2), and the engine's extensions of BEFT and GLoRA to the Conv1D blocks.
/// </summary>
public class ElementwiseGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-hira", 4)]
    [InlineData("gpt2-tiny-beft", 1)]
    [InlineData("gpt2-tiny-beft-blocks", 4)]
    [InlineData("gpt2-tiny-supertuning", 1)]
    [InlineData("gpt2-tiny-supra", 1)]
    [InlineData("gpt2-tiny-glora", 1)]
    [InlineData("gpt2-tiny-glora-blocks", 2)]
    public void LoadsAndGivesPyTorchLogits(string fixture, int adaptedLayers) => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-hira")]
    [InlineData("gpt2-tiny-beft")]
    [InlineData("gpt2-tiny-beft-blocks")]
    [InlineData("gpt2-tiny-supertuning")]
    [InlineData("gpt2-tiny-supra")]
    [InlineData("gpt2-tiny-glora")]
    [InlineData("gpt2-tiny-glora-blocks")]
    public void GradientsAndOneAdamWStepMatchPyTorch(string fixture) => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
