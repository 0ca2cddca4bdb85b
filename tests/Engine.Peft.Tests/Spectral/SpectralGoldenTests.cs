using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Spectral;

/// <summary>
/// FourierFT, WaveFT, C3A and SHiRA adapters in PEFT's layout for the Hugging Face GPT-2 fixture
/// (tests/golden/make_gpt2_spectral_golden.py): PyTorch's logits, gradients and one AdamW step. The FourierFT and
/// WaveFT files hold no positions: they load only because the engine redraws torch's randperm exactly.
/// </summary>
public class SpectralGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-fourierft", 4)]
    [InlineData("gpt2-tiny-fourierft-pattern", 4)]
    [InlineData("gpt2-tiny-waveft", 4)]
    [InlineData("gpt2-tiny-waveft-sparse", 4)]
    [InlineData("gpt2-tiny-waveft-sym4", 4)]
    [InlineData("gpt2-tiny-waveft-coif2-proportional", 4)]
    [InlineData("gpt2-tiny-c3a", 1)]
    [InlineData("gpt2-tiny-c3a-blocks", 4)]
    [InlineData("gpt2-tiny-shira", 1)]
    [InlineData("gpt2-tiny-shira-blocks", 4)]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-fourierft")]
    [InlineData("gpt2-tiny-fourierft-pattern")]
    [InlineData("gpt2-tiny-waveft")]
    [InlineData("gpt2-tiny-waveft-sparse")]
    [InlineData("gpt2-tiny-waveft-sym4")]
    [InlineData("gpt2-tiny-waveft-coif2-proportional")]
    [InlineData("gpt2-tiny-c3a")]
    [InlineData("gpt2-tiny-c3a-blocks")]
    [InlineData("gpt2-tiny-shira")]
    [InlineData("gpt2-tiny-shira-blocks")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
