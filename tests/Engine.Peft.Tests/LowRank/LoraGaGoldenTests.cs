using Engine.Peft.LowRank;
using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// LoRA-GA's initialisation against PyTorch's (tests/golden/make_gpt2_calibrated_golden.py): for three direction/scale
/// pairs each row of A and column of B matches up to its sign, and the residual base is W - s B A. The folder's load,
/// gradient and refusal checks are in <see cref="CalibratedGoldenFolderTests"/>.
/// </summary>
public class LoraGaGoldenTests(ITestOutputHelper output)
{
    const string Fixture = "gpt2-tiny-loraga";

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
