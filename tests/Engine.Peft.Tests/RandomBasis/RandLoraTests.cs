using Engine.Peft.RandomBasis;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.RandomBasis;

/// <summary>
/// RandLoRA: shared frozen bases sized from the widest targets, PEFT's flattened update computed independently by
/// loops, and the paper's point: with bases of rank r the update reaches full rank min(in, out), where a LoRA of rank
/// r stays at r.
/// </summary>
public class RandLoraTests
{
    const int R = 2;

    static PeftModel<Gpt> Adapted(bool scramble = true)
    {
        var peft = Peft.Apply(TinyGpt(), new RandLoraConfig { R = R, RandloraAlpha = 3, TargetModules = ["qkv", "mlp.fc", "mlp.proj"], ProjectionPrngKey = 5 });
        ulong seed = 70;
        if (scramble) foreach (var p in peft.TrainableParameters()) Scramble(p, seed++, 0.5);
        peft.To(DType.Float64);
        return peft;
    }

    static RandLoraLayer Layer(PeftModel peft, string path) => (RandLoraLayer)peft.AdapterLayers().First(l => l.Path == path).Layer;

    [Fact]
    public void SharedBases_AreSizedFromTheWidestTargets_AndNormalised()
    {
        var peft = Adapted();
        var bases = (RandLoraProjections)peft.ModelPart("default")!;
        // Largest (out, in): qkv's out 24, mlp.proj's in 16 -> max 24, min 16, N = 16 / 2 = 8.
        Assert.Equal([R, 1, 16], bases.A.Shape);
        Assert.Equal([24, 8, R], bases.B.Shape);
        Assert.Equal(1.0, bases.A.Std().Item(), 6);
        Assert.Equal(1.0, bases.B.Std().Item(), 6);
        Assert.False(bases.A.RequiresGrad);
        Assert.Equal(2, peft.StateDict().Keys.Count(k => k.StartsWith("adapter_parts.default.randlora_")));
    }

    [Fact]
    public void AtInit_TheUpdateIsZero_AndGammaIsOneOverItsLargerSide()
    {
        var peft = Adapted(scramble: false);
        var layer = Layer(peft, "blocks.0.mlp.fc");  // [16, 8]: N = 4, gamma [4, 8]
        Assert.All(layer.DeltaWeight("default").ToDoubleArray(), v => Assert.Equal(0, v));
        Assert.All(layer.Gamma("default").ToDoubleArray(), v => Assert.Equal(1.0 / 8, v, 12));
    }

    [Theory]
    [InlineData("blocks.0.mlp.fc")]    // in 8 < out 16: ΔW = s B_flat Ã
    [InlineData("blocks.0.mlp.proj")]  // in 16 > out 8: ΔW = s (B_flat Ã)ᵀ
    public void DeltaWeight_IsPeftsFlattenedProduct_ByLoops_AndTheForwardAddsIt(string path)
    {
        var peft = Adapted();
        var layer = Layer(peft, path);
        var bases = (RandLoraProjections)peft.ModelPart("default")!;
        int inF = layer.InFeatures, outF = layer.OutFeatures, lo = Math.Min(inF, outF), hi = Math.Max(inF, outF), n = layer.NumBases("default");
        var a = bases.A.Contiguous().ToDoubleArray();  // [R, 1, 16]
        var b = bases.B.Contiguous().ToDoubleArray();  // [24, 8, R]
        var lambda = layer.Lambda("default").ToDoubleArray();
        var gamma = layer.Gamma("default").ToDoubleArray();
        var product = new double[hi * lo];
        for (int i = 0; i < hi; i++)
            for (int j = 0; j < lo; j++)
            {
                double sum = 0;
                for (int c = 0; c < n * R; c++)
                {
                    // B_flat column c = (basis c / R, rank c % R); Ã row c = (rank c / N, basis c % N).
                    double bFlat = b[(i * 8 + c / R) * R + c % R];
                    int k = c / n, m = c % n;
                    sum += bFlat * lambda[k * n + m] * a[k * 16 + j] * gamma[m * lo + j];
                }
                product[i * lo + j] = sum * 3.0 / R;
            }
        var expected = new double[outF * inF];
        for (int o = 0; o < outF; o++)
            for (int i = 0; i < inF; i++)
                expected[o * inF + i] = inF <= outF ? product[o * lo + i] : product[i * lo + o];
        AssertClose(expected, layer.DeltaWeight("default").ToDoubleArray(), 1e-12);

        var x = Randn64(3, 2, 5, inF);
        var w = layer.BaseLayer.Weight.ToDoubleArray().Select((v, i) => v + expected[i]).ToArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var y = NaiveMatMulT(x.ToDoubleArray(), 10, w, inF, outF).Select((v, i) => v + bias[i % outF]).ToArray();
        AssertClose(y, layer.Forward(x).ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void Update_ReachesFullRank_FromBasesOfRankR()
    {
        var peft = Adapted();
        foreach (var path in new[] { "blocks.0.mlp.fc", "blocks.0.mlp.proj", "blocks.0.attn.qkv" })
        {
            var layer = Layer(peft, path);
            var s = Linalg.Svd(layer.DeltaWeight("default")).S.ToDoubleArray();
            int rank = s.Count(v => v > 1e-9 * s[0]);
            Assert.Equal(Math.Min(layer.InFeatures, layer.OutFeatures), rank);
            Assert.True(rank > R);
        }
    }

    [Fact]
    public void Gradients_MatchFiniteDifferences()
    {
        var peft = Adapted();
        var x = Randn64(9, 2, 3, 8);
        var layer = Layer(peft, "blocks.0.mlp.fc");
        AssertParameterGradients(layer, () => (layer.Forward(x) * layer.Forward(x)).Sum());
    }
}
