using Engine.Peft.Elementwise;
using Xunit;
using static Engine.Peft.Tests.Elementwise.ElementwiseTestSupport;
using static Engine.Peft.Tests.Lycoris.LycorisTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Elementwise;

/// <summary>HiRA: ΔW = W0 ⊙ (B A), whose rank is far above r (the paper's point), vanishing where W0 does.</summary>
public class HiraTests
{
    static HiraLayer Hira(int inF, int outF, HiraConfig config, params string[] names) => Layer(l => new HiraLayer(l), inF, outF, config, names: names);

    [Fact]
    public void Forward_AddsTheHadamardProductOfTheBaseWeightAndBA()
    {
        const int inF = 6, outF = 5, r = 2;
        var layer = Hira(inF, outF, new HiraConfig { R = r, InitWeights = HiraInit.Random });
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var ba = NaiveProduct(layer.B("a").ToDoubleArray(), layer.A("a").ToDoubleArray(), outF, r, inF);
        var delta = w.Select((v, i) => v * ba[i]).ToArray();
        AssertClose(delta, layer.DeltaWeight("a").ToDoubleArray(), 1e-12);

        var x = Randn64(4, 3, inF);
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var expected = NaiveMatMulT(x.ToDoubleArray(), 3, w.Select((v, i) => v + delta[i]).ToArray(), inF, outF).Select((v, i) => v + bias[i % outF]).ToArray();
        AssertClose(expected, Out(layer, x), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Update_HasFullRank_FarAboveR(int r)
    {
        // W0 of full rank times a generic rank-r B A: the Hadamard product has rank min(out, in), while a LoRA of the same r stays at r.
        const int width = 10;
        var layer = Hira(width, width, new HiraConfig { R = r, InitWeights = HiraInit.Random });
        Assert.Equal(r, Rank(NaiveProduct(layer.B("a").ToDoubleArray(), layer.A("a").ToDoubleArray(), width, r, width), width, width));
        Assert.Equal(width, Rank(layer.DeltaWeight("a").ToDoubleArray(), width, width));
    }

    [Fact]
    public void Update_VanishesWhereTheBaseWeightIsZero()
    {
        var layer = Hira(6, 4, new HiraConfig { R = 3, InitWeights = HiraInit.Random });
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        foreach (int i in new[] { 0, 7, 13, 23 }) w[i] = 0;
        Set(layer.BaseLayer.Weight, w);
        var delta = layer.DeltaWeight("a").ToDoubleArray();
        foreach (int i in new[] { 0, 7, 13, 23 }) Assert.Equal(0, delta[i]);
        Assert.Equal(24 - 4, delta.Count(v => v != 0));
    }

    [Fact]
    public void Inits_StartAtTheBase_WithPeftsDistributions()
    {
        var kaiming = Hira(400, 3, new HiraConfig { R = 50 });
        Assert.All(kaiming.B("a").ToDoubleArray(), v => Assert.Equal(0, v));
        var a = kaiming.A("a").ToDoubleArray();
        Assert.InRange(a.Max(Math.Abs), 0.9 / Math.Sqrt(400), 1 / Math.Sqrt(400));
        var gaussian = Hira(400, 3, new HiraConfig { R = 50, InitWeights = HiraInit.Gaussian });
        var g = gaussian.A("a").ToDoubleArray();
        double std = Math.Sqrt(g.Select(v => v * v).Average());
        Assert.InRange(std, 0.95 / 50, 1.05 / 50);
        var x = Randn64(2, 2, 400);
        Assert.Equal(Out(gaussian.BaseLayer, x), Out(gaussian, x));
    }

    [Fact]
    public void MergingOneAdapterAtATime_UsesTheOriginalWeight_AndUnmergeRestoresItBitForBit()
    {
        const int inF = 5, outF = 4;
        var layer = Hira(inF, outF, new HiraConfig { R = 2, InitWeights = HiraInit.Random }, "a", "b");
        var x = Randn64(6, 3, inF);
        var w0 = layer.BaseLayer.Weight.ToDoubleArray();
        var unmerged = Out(layer, x);
        layer.Merge(["a"]);
        // With a merged, b's forward still reads W0 (not W0 + W0 ⊙ BA_a).
        AssertClose(unmerged, Out(layer, x), 1e-12);
        layer.Merge(["b"]);
        AssertClose(unmerged, Out(layer, x), 1e-12);
        var ba = NaiveProduct(layer.B("a").ToDoubleArray(), layer.A("a").ToDoubleArray(), outF, 2, inF);
        var bb = NaiveProduct(layer.B("b").ToDoubleArray(), layer.A("b").ToDoubleArray(), outF, 2, inF);
        AssertClose(w0.Select((v, i) => v + v * ba[i] + v * bb[i]).ToArray(), layer.BaseLayer.Weight.ToDoubleArray(), 1e-12);
        layer.Unmerge();
        Assert.Equal(w0, layer.BaseLayer.Weight.ToDoubleArray());
    }
}
