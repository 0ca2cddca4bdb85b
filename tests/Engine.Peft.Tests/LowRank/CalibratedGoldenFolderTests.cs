using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// The PEFT-layout folders of the data-driven initialisations that move part of the base weight (CorDA's KPM,
/// LoRA-GA's ArB2r/stable; tests/golden/make_gpt2_calibrated_golden.py) on the Hugging Face GPT-2 fixture: each loads
/// with its calibration data, which rebuilds the residual base, and gives PyTorch's logits, gradients and one AdamW
/// step; without the data the load is refused naming the initialisation.
/// </summary>
public class CalibratedGoldenFolderTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-corda")]
    [InlineData("gpt2-tiny-loraga")]
    public void PeftAdapter_LoadsWithItsCalibrationDataOntoGpt2AndGivesPyTorchLogits(string fixture)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, 6, calibration: CalibratedGolden.Data(fixture));

    [Theory]
    [InlineData("gpt2-tiny-corda")]
    [InlineData("gpt2-tiny-loraga")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output, calibration: CalibratedGolden.Data(fixture));

    [Theory]
    [InlineData("gpt2-tiny-corda", "corda")]
    [InlineData("gpt2-tiny-loraga", "lora_ga")]
    public void PeftAdapter_WithoutItsCalibrationData_IsRefusedByName(string fixture, string init)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", fixture);
        var e = Assert.Throws<NotSupportedException>(() => Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder));
        Assert.Contains($"init_lora_weights=\"{init}\"", e.Message);
    }
}
