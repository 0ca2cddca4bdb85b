using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Subspace;

/// <summary>
/// DeFT, PEANuT and PSOFT adapters in PEFT's layout for the Hugging Face GPT-2 fixture (tests/golden/
/// make_gpt2_subspace_golden.py): PyTorch's logits, gradients and logits after one AdamW step (<see cref="PeftGoldenCheck"/>).
/// gpt2-tiny-psoft holds PEFT's keys only (A and B rebuilt from the SVD); gpt2-tiny-psoft-ab the engine's extra A and B.
/// </summary>
public class SubspaceGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-deft", 6)]
    [InlineData("gpt2-tiny-deft-qr", 2)]
    [InlineData("gpt2-tiny-peanut", 1)]
    [InlineData("gpt2-tiny-psoft", 1)]
    [InlineData("gpt2-tiny-psoft-ab", 1)]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-deft")]
    [InlineData("gpt2-tiny-deft-qr")]
    [InlineData("gpt2-tiny-peanut")]
    [InlineData("gpt2-tiny-psoft")]
    [InlineData("gpt2-tiny-psoft-ab")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
