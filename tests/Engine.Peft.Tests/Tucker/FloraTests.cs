using Engine.Peft.LowRank;
using Engine.Peft.Tucker;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Tucker;

/// <summary>
/// FLoRA (arXiv 2405.14739; SJTU-DeepVisionLab/FLoRA flora/layers.py): the N-mode Tucker product against a naive loop on
/// a convolution-shaped [in, out, kH, kW] kernel, the Linear layer's ΔW = s P1 Gᵀ P0ᵀ, the start at the base for each
/// initialisation, and the spec's oracle that an identity core is a LoRA.
/// </summary>
public class FloraTests
{
    static FloraLayer Flora(int inF, int outF, FloraConfig config) => StandaloneLayer(l => new FloraLayer(l), inF, outF, config);

    [Fact]
    public void TuckerProduct_OfAFourModeKernel_MatchesTheNaiveSum()
    {
        int[] dims = [4, 5, 3, 2], ranks = [2, 3, 2, 2];
        var core = Randn64(1, ranks);
        var factors = dims.Select((d, i) => Randn64(10 + (ulong)i, d, ranks[i])).ToArray();
        var product = TuckerProduct.Product(core, factors);
        Assert.Equal(dims, product.Shape);

        var g = core.ToDoubleArray();
        var p = factors.Select(f => f.ToDoubleArray()).ToArray();
        var expected = new double[dims.Aggregate(1, (a, b) => a * b)];
        for (int i = 0; i < dims[0]; i++)
        for (int o = 0; o < dims[1]; o++)
        for (int h = 0; h < dims[2]; h++)
        for (int w = 0; w < dims[3]; w++)
        {
            double sum = 0;
            for (int a = 0; a < ranks[0]; a++)
            for (int b = 0; b < ranks[1]; b++)
            for (int c = 0; c < ranks[2]; c++)
            for (int d = 0; d < ranks[3]; d++)
                sum += g[((a * ranks[1] + b) * ranks[2] + c) * ranks[3] + d]
                       * p[0][i * ranks[0] + a] * p[1][o * ranks[1] + b] * p[2][h * ranks[2] + c] * p[3][w * ranks[3] + d];
            expected[((i * dims[1] + o) * dims[2] + h) * dims[3] + w] = sum;
        }
        AssertClose(expected, product.ToDoubleArray(), 1e-12);
        AssertInputGradients(t => TuckerProduct.Product(t[0], t[1..]), [core, .. factors]);
    }

    [Fact]
    public void TuckerProduct_RefusesFactorsThatDoNotFitTheCore()
    {
        var core = Randn64(1, 2, 3);
        Assert.Throws<ArgumentException>(() => TuckerProduct.Product(core, [Randn64(2, 4, 2)]));
        Assert.Throws<ArgumentException>(() => TuckerProduct.Product(core, [Randn64(2, 4, 2), Randn64(3, 5, 2)]));
    }

    [Fact]
    public void DeltaWeight_IsScaledP1GtP0t_AndTheForwardAddsIt()
    {
        const int inF = 6, outF = 5, r0 = 2, r1 = 3;
        var layer = Flora(inF, outF, new FloraConfig { R = [r0, r1], Scale = 1.5, InitWeights = "random" });
        var core = layer.Core("a");
        var g = core.Core.ToDoubleArray();
        var p0 = core.Factors[0].ToDoubleArray();
        var p1 = core.Factors[1].ToDoubleArray();
        var delta = new double[outF * inF];
        for (int o = 0; o < outF; o++)
        for (int i = 0; i < inF; i++)
        for (int a = 0; a < r0; a++)
        for (int b = 0; b < r1; b++)
            delta[o * inF + i] += 1.5 * g[a * r1 + b] * p0[i * r0 + a] * p1[o * r1 + b];
        Assert.Contains(delta, v => Math.Abs(v) > 1e-3);
        AssertClose(delta, layer.DeltaWeight("a").ToDoubleArray(), 1e-12);

        var x = Randn64(4, 3, inF);
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var expected = NaiveMatMulT(x.ToDoubleArray(), 3, w.Select((v, i) => v + delta[i]).ToArray(), inF, outF).Select((v, i) => v + bias[i % outF]).ToArray();
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Theory]
    [InlineData("flora")]
    [InlineData("loralib")]
    [InlineData("peft")]
    public void AtInit_TheCoreIsZero_SoTheLayerIsTheBase_ButEveryFactorIsDrawn(string init)
    {
        var layer = Flora(40, 30, new FloraConfig { R = [4, 4], InitWeights = init, LoraAlpha = 8 });
        var x = Randn64(4, 3, 40);
        AssertClose(layer.BaseLayer.Forward(x).ToDoubleArray(), layer.Forward(x).ToDoubleArray(), 0);
        var core = layer.Core("a");
        Assert.All(core.Core.ToDoubleArray(), v => Assert.Equal(0, v));
        Assert.All(core.Factors, f => Assert.Contains(f.ToDoubleArray(), v => v != 0));
    }

    [Fact]
    public void Initialisations_DrawTheReferenceDistributions_AndScales()
    {
        const int inF = 400, outF = 300, r = 8;
        static double Std(Tensor t) { var v = t.ToDoubleArray(); double m = v.Average(); return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / v.Length); }
        // The reference's kaiming_normal_(a = √3) on [d, r]: std = √(2 / (4 r)).
        var flora = Flora(inF, outF, new FloraConfig { R = [r, r], Scale = 4 }).Core("a");
        Assert.InRange(Std(flora.Factors[0]) / Math.Sqrt(1.0 / (2 * r)), 0.95, 1.05);
        Assert.InRange(Std(flora.Factors[1]) / Math.Sqrt(1.0 / (2 * r)), 0.95, 1.05);
        var loralib = Flora(inF, outF, new FloraConfig { R = [r, r], InitWeights = "loralib" }).Core("a");
        Assert.InRange(Std(loralib.Factors[0]) / 0.02, 0.95, 1.05);
        // peft: A [r, in] ~ U(±1/√in), B [out, r] ~ U(±1/√r).
        var peft = Flora(inF, outF, new FloraConfig { R = [r, r], InitWeights = "peft" }).Core("a");
        Assert.InRange(peft.Factors[0].Abs().Max().Item() * Math.Sqrt(inF), 0.95, 1.0);
        Assert.InRange(peft.Factors[1].Abs().Max().Item() * Math.Sqrt(r), 0.95, 1.0);

        Assert.Equal(4, new FloraConfig { Scale = 4 }.Scaling([r, r]));
        Assert.Equal(16 / (r + 1e-5), new FloraConfig { LoraAlpha = 16, InitWeights = "loralib" }.Scaling([r, r]));
        Assert.Equal(16.0 / r, new FloraConfig { LoraAlpha = 16, InitWeights = "peft" }.Scaling([r, r]));
    }

    [Fact]
    public void IdentityCore_IsTheLoraWithAEqualP0TransposedAndBEqualP1()
    {
        const int inF = 7, outF = 5, r = 3;
        var flora = Flora(inF, outF, new FloraConfig { R = [r, r], Scale = 2.5, InitWeights = "random" });
        var core = flora.Core("a");
        using (Autograd.Autograd.NoGrad()) core.Core.CopyFrom(Tensor.Eye(r, dtype: DType.Float64));
        var lora = StandaloneLayer(l => new LoraLayer(l), inF, outF, new LoraConfig { R = r, LoraAlpha = 2.5 * r });
        lora.SetFactors("a", core.Factors[0].T.Contiguous(), core.Factors[1]);
        var x = Randn64(4, 3, inF);
        AssertClose(lora.Forward(x).ToDoubleArray(), flora.Forward(x).ToDoubleArray(), 1e-12);
        AssertClose(lora.DeltaWeight("a").ToDoubleArray(), flora.DeltaWeight("a").ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void TrainableCount_IsInTimesR0_PlusOutTimesR1_PlusTheCore()
    {
        var peft = Peft.Apply(TinyGpt(), new FloraConfig { R = [2, 3], TargetModules = ["qkv"] });
        // TinyGpt: width 8, qkv 8 → 24, two blocks.
        Assert.Equal(2 * (8 * 2 + 24 * 3 + 2 * 3), peft.PrintTrainableParameters(TextWriter.Null).Trainable);
    }

    [Fact]
    public void Validate_RefusesConvolutionModes_AndRankListsThatDoNotFit()
    {
        Assert.Throws<NotSupportedException>(() => new FloraConfig { N = 4, R = [2, 2, 1, 1] }.Validate());
        Assert.Throws<ArgumentException>(() => new FloraConfig { R = [2] }.Validate());
        Assert.Throws<ArgumentException>(() => new FloraConfig { R = [2, 0] }.Validate());
        Assert.Throws<ArgumentException>(() => new FloraConfig { R = [2, 3], InitWeights = "loralib" }.Validate());
        Assert.Throws<ArgumentException>(() => new FloraConfig { InitWeights = "xavier" }.Validate());
        Assert.Throws<ArgumentException>(() => new FloraConfig { DropRate = 1 }.Validate());
    }
}
