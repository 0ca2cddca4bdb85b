using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.ModuleSearch;

/// <summary>
/// DiffoRA files on the Hugging Face GPT-2 fixture's c_attn and c_fc (tests/golden/make_gpt2_flora_diffora_golden.py,
/// the engine's reading in plain PyTorch): PyTorch's logits, gradients and logits after one AdamW step
/// (<see cref="PeftGoldenCheck"/>). gpt2-tiny-diffora is mid-search (gates saved); gpt2-tiny-diffora-kept is discretised:
/// two of the four targets kept as plain LoRA, two holding nothing.
/// </summary>
public class DifforaGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-diffora")]
    [InlineData("gpt2-tiny-diffora-kept")]
    public void Adapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture) => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, 4);

    [Theory]
    [InlineData("gpt2-tiny-diffora")]
    [InlineData("gpt2-tiny-diffora-kept")]
    public void Adapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture) => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
