using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Inserted;

/// <summary>
/// Compacter's golden folder (tests/golden/make_gpt2_compacter_golden.py: AdapterHub's PHMLayer math, its batched
/// kronecker_product, in plain PyTorch): adapters after GPT-2's attn.c_proj and mlp.c_proj sharing one set of rules.
/// </summary>
public class CompacterGoldenTests(ITestOutputHelper output)
{
    const string Fixture = "gpt2-tiny-compacter";

    [Fact]
    public void CompacterAdapter_LoadsOntoGpt2AndGivesPyTorchLogits() => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(Fixture, 4);

    [Fact]
    public void CompacterAdapter_GradientsAndOneAdamWStepMatchPyTorch() => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(Fixture, output);
}
