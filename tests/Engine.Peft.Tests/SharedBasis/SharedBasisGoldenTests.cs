using Engine.Nn.Checkpoints;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.SharedBasis;

/// <summary>
/// FRoD and AdaMSS files (tests/golden/make_gpt2_sharedbasis_golden.py writes the math in plain PyTorch). FRoD in
/// PEFT's layout: V and S's positions come from the file, U is rebuilt from GPT-2's weights by the float64 solve.
/// AdaMSS in the engine's layout (PEFT's keys plus adamss_assignment); PEFT's own layout lacks the clusters and is
/// refused naming the field.
/// </summary>
public class SharedBasisGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-frod", 4)]
    [InlineData("gpt2-tiny-adamss", 4)]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-frod")]
    [InlineData("gpt2-tiny-adamss")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);

    [Fact]
    public void AdamssFileWithoutTheAssignment_IsRefusedNamingTheMissingField()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-adamss-peft");
        var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder));
        Assert.Contains("adamss_assignment", e.Message);
        Assert.Contains("PEFT does not save", e.Message);
    }
}
