using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.RandomBasis;

/// <summary>
/// RandLoRA files in PEFT's layout (tests/golden/make_gpt2_sharedbasis_golden.py writes PEFT's math in plain
/// PyTorch): GPT-2's c_attn (in &lt; out) and mlp.c_proj (in &gt; out) take the two flatten orders.
/// </summary>
public class RandomBasisGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-randlora", 4)]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-randlora")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
