using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Orthogonal;

/// <summary>
/// OFT and BOFT folders in PEFT's layout (tests/golden/make_gpt2_orthogonal_golden.py), all on GPT-2's lm_head (PEFT
/// adapts nn.Linear only): OFT with PEFT's 5-term Cayley–Neumann default, the exact Cayley transform (r adjusted to a
/// divisor), block_share with 3 terms, and COFT; BOFT as PEFT writes it on a CPU (one factor under a config that says
/// two) and on a GPU (two and three factors). PyTorch's logits, gradients and one AdamW step (<see cref="PeftGoldenCheck"/>).
/// </summary>
public class OrthogonalGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-oft")]
    [InlineData("gpt2-tiny-oft-cayley")]
    [InlineData("gpt2-tiny-oft-share")]
    [InlineData("gpt2-tiny-oft-coft")]
    [InlineData("gpt2-tiny-boft")]
    [InlineData("gpt2-tiny-boft-factor2")]
    [InlineData("gpt2-tiny-boft-factor3")]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, 1);

    [Theory]
    [InlineData("gpt2-tiny-oft")]
    [InlineData("gpt2-tiny-oft-cayley")]
    [InlineData("gpt2-tiny-oft-share")]
    [InlineData("gpt2-tiny-oft-coft")]
    [InlineData("gpt2-tiny-boft")]
    [InlineData("gpt2-tiny-boft-factor2")]
    [InlineData("gpt2-tiny-boft-factor3")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
