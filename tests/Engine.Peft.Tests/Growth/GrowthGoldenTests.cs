using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Growth;

/// <summary>
/// Grown IncreLoRA and TriAdaptLoRA adapters on the Hugging Face GPT-2 fixture's c_attn (tests/golden/
/// make_gpt2_growth_golden.py, the reference codes' math in plain PyTorch): PyTorch's logits, gradients and logits after
/// one AdamW step (<see cref="PeftGoldenCheck"/>). IncreLoRA's reserve lambdas are frozen, so they have no gradient key.
/// </summary>
public class GrowthGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-increlora")]
    [InlineData("gpt2-tiny-triadaptlora")]
    public void Adapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture) => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, 2);

    [Theory]
    [InlineData("gpt2-tiny-increlora")]
    [InlineData("gpt2-tiny-triadaptlora")]
    public void Adapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture) => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
