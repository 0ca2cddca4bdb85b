using Engine.Peft.LowRank;
using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// CorDA's initialisation against PyTorch's (tests/golden/make_gpt2_calibrated_golden.py): the engine's own IPM and KPM
/// initialisations on the folder's data match PyTorch's (s B A, which the signs of the SVD do not change, and the
/// residual base). The folder's load, gradient and refusal checks are in <see cref="CalibratedGoldenFolderTests"/>.
/// </summary>
public class CordaGoldenTests(ITestOutputHelper output)
{
    const string Fixture = "gpt2-tiny-corda";

    [Theory]
    [InlineData("ipm")]
    [InlineData("kpm")]
    public void Initialisation_MatchesPyTorchsOnTheSameData(string method)
    {
        var config = new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = ["c_attn", "c_proj"], InitLoraWeights = LoraInit.Corda, CordaConfig = new() { CordaMethod = method } };
        double worstDelta = 0, worstResidual = 0;
        foreach (var (path, layer, original, a0, b0) in CalibratedGolden.Initialise(Fixture, "corda_" + method, config))
        {
            var expected = b0 % a0 * 2.0;
            double delta = CalibratedGolden.Relative(expected, layer.DeltaWeight("default"));
            // The residual relative to the weight's own size.
            double residual = CalibratedGolden.Relative(original, layer.BaseLayer.Weight.To(DType.Float64) + expected) ;
            worstDelta = Math.Max(worstDelta, delta);
            worstResidual = Math.Max(worstResidual, residual);
            Assert.True(delta < 1e-4, $"{method} {path}: s B A differs from PyTorch's by {delta:E2} of its largest magnitude");
            Assert.True(residual < 1e-5, $"{method} {path}: the residual base differs from W - s B0 A0 by {residual:E2}");
        }
        output.WriteLine($"corda {method}: worst s B A error {worstDelta:E2}, residual {worstResidual:E2}");
    }
}
