using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Singular;

/// <summary>
/// SVFit, CLIP-SVD (k' = 16 of 32: the dropped rest), SALT and LoLDU on the Hugging Face GPT-2 fixture's lm_head in the
/// engine's layout (tests/golden/make_gpt2_singular_golden.py, each method's math from its reference code in plain
/// PyTorch): PyTorch's logits, gradients and logits after one AdamW step (<see cref="PeftGoldenCheck"/>).
/// </summary>
public class SingularGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-svfit")]
    [InlineData("gpt2-tiny-clip-svd")]
    [InlineData("gpt2-tiny-salt")]
    [InlineData("gpt2-tiny-loldu")]
    public void Adapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, 1);

    [Theory]
    [InlineData("gpt2-tiny-svfit")]
    [InlineData("gpt2-tiny-clip-svd")]
    [InlineData("gpt2-tiny-salt")]
    [InlineData("gpt2-tiny-loldu")]
    public void Adapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output, false);
}
