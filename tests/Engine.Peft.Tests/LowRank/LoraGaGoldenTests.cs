using Engine.Peft.LowRank;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// LoRA-GA in PEFT's layout on the Hugging Face GPT-2 fixture (tests/golden/make_gpt2_calibrated_golden.py): the folder
/// loads with its calibration data, which rebuilds the residual base from the averaged gradients, and gives PyTorch's
/// logits, gradients and one AdamW step; the engine's own initialisation for three direction/scale pairs matches
/// PyTorch's: each row of A and column of B up to its sign, and the residual base W - s B A.
/// </summary>
public class LoraGaGoldenTests(ITestOutputHelper output)
{
    const string Fixture = "gpt2-tiny-loraga";

    [Fact]
    public void PeftAdapter_LoadsWithItsCalibrationDataOntoGpt2AndGivesPyTorchLogits()
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(Fixture, 6, calibration: CalibratedGolden.Data(Fixture));

    [Fact]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch()
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(Fixture, output, calibration: CalibratedGolden.Data(Fixture));

    [Fact]
    public void PeftAdapter_WithoutItsCalibrationData_IsRefusedByName()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", Fixture);
        var e = Assert.Throws<NotSupportedException>(() => Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder));
        Assert.Contains("init_lora_weights=\"lora_ga\"", e.Message);
    }

    [Theory]
    [InlineData("loraga", "ArB2r", "stable")]
    [InlineData("loraga_arbr_weightsvd", "ArBr", "weight_svd")]
    [InlineData("loraga_a2rbr_gdscale", "A2rBr", "gd_scale")]
    public void Initialisation_MatchesPyTorchsOnTheSameData(string prefix, string direction, string scale)
    {
        var config = new LoraConfig
        {
            R = 4, LoraAlpha = 8, TargetModules = ["c_attn", "c_proj"], InitLoraWeights = LoraInit.LoraGa,
            LoraGaConfig = new() { Direction = direction, Scale = scale },
        };
        double worst = 0;
        foreach (var (path, layer, original, a0, b0) in CalibratedGolden.Initialise(Fixture, prefix, config))
        {
            var a = AlignRows(a0, layer.LoraA("default").To(DType.Float64));
            var b = AlignRows(b0.T, layer.LoraB("default").To(DType.Float64).T).T;
            double errorA = CalibratedGolden.Relative(a0, a), errorB = CalibratedGolden.Relative(b0, b);
            worst = Math.Max(worst, Math.Max(errorA, errorB));
            Assert.True(errorA < 1e-4, $"{prefix} {path}: A differs from PyTorch's by {errorA:E2} (up to the sign of each row)");
            Assert.True(errorB < 1e-4, $"{prefix} {path}: B differs from PyTorch's by {errorB:E2} (up to the sign of each column)");
            // The base keeps exactly what the adapter does not: W = residual + s B A.
            var delta = layer.DeltaWeight("default").To(DType.Float64);
            double residual = CalibratedGolden.Relative(original, layer.BaseLayer.Weight.To(DType.Float64) + delta);
            Assert.True(residual < 1e-6, $"{prefix} {path}: residual + s B A differs from W by {residual:E2}");
        }
        output.WriteLine($"{prefix}: worst factor error {worst:E2}");
    }

    // actual's rows, each multiplied by the sign that brings it closest to expected's row.
    static Tensor AlignRows(Tensor expected, Tensor actual)
    {
        var signs = (expected * actual).Sum(1).ToDoubleArray().Select(d => d < 0 ? -1.0 : 1.0).ToArray();
        return actual * Tensor.FromArray(signs).Unsqueeze(1);
    }
}
