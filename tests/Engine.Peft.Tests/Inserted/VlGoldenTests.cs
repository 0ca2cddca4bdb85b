using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Inserted;

/// <summary>
/// VL-Adapter (shared and per-task) and VL-PET (each gate) on gpt2-tiny's two sublayer outputs per block against the
/// folders written by tests/golden/make_gpt2_vl_golden.py (the reference code's math in plain PyTorch; VL-PET's gates
/// read each block's residual stream x1). The per-task file's task_ids [1, 0] are held in a TaskIds scope.
/// </summary>
public class VlGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-vl-adapter")]
    [InlineData("gpt2-tiny-vl-adapter-per-task")]
    [InlineData("gpt2-tiny-vl-pet")]
    [InlineData("gpt2-tiny-vl-pet-middlex")]
    [InlineData("gpt2-tiny-vl-pet-middley")]
    [InlineData("gpt2-tiny-vl-pet-small")]
    public void LoadsAndGivesPyTorchLogits(string fixture) => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, 4);

    [Theory]
    [InlineData("gpt2-tiny-vl-adapter")]
    [InlineData("gpt2-tiny-vl-adapter-per-task")]
    [InlineData("gpt2-tiny-vl-pet")]
    [InlineData("gpt2-tiny-vl-pet-middlex")]
    [InlineData("gpt2-tiny-vl-pet-middley")]
    [InlineData("gpt2-tiny-vl-pet-small")]
    public void GradientsAndOneAdamWStepMatchPyTorch(string fixture) => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
