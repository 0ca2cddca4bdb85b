using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.SharedBasis;

/// <summary>
/// FRoD files in PEFT's layout (tests/golden/make_gpt2_sharedbasis_golden.py writes PEFT's math in plain PyTorch):
/// V and S's positions come from the file, U is rebuilt from GPT-2's weights by the float64 solve.
/// </summary>
public class SharedBasisGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-frod", 4)]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-frod")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
