using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// LoRA variants in PEFT's layout on the Hugging Face GPT-2 fixture (tests/golden/make_gpt2_loravar_golden.py):
/// MiCA, orthogonal initialisation and BD-LoRA as PEFT writes them, KaSA on GPT-2's Conv1D layers (the engine's
/// extension: PEFT refuses KaSA on fan_in_fan_out layers), with PyTorch's logits, gradients and one AdamW step.
/// </summary>
public class LoraVariantGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-mica", 6)]
    [InlineData("gpt2-tiny-orthogonal", 2)]
    [InlineData("gpt2-tiny-bdlora", 6)]
    [InlineData("gpt2-tiny-kasa-blocks", 4)]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-mica")]
    [InlineData("gpt2-tiny-orthogonal")]
    [InlineData("gpt2-tiny-bdlora")]
    [InlineData("gpt2-tiny-kasa-blocks")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
