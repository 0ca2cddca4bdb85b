using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Tucker;

/// <summary>
/// FLoRA files (its own form and the Subspace-Tuning "peft" form) on the Hugging Face GPT-2 fixture's c_attn and c_fc
/// (tests/golden/make_gpt2_flora_diffora_golden.py, the reference's tensordot math in plain PyTorch): PyTorch's logits,
/// gradients and logits after one AdamW step (<see cref="PeftGoldenCheck"/>).
/// </summary>
public class FloraGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-flora")]
    [InlineData("gpt2-tiny-flora-peft")]
    public void Adapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture) => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, 4);

    [Theory]
    [InlineData("gpt2-tiny-flora")]
    [InlineData("gpt2-tiny-flora-peft")]
    public void Adapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture) => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
