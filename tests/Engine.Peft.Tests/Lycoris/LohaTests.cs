using Engine.Peft.Lycoris;
using Xunit;
using static Engine.Peft.Tests.Lycoris.LycorisTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Lycoris;

/// <summary>LoHa: ΔW = (alpha / r) (W1a W1b) ⊙ (W2a W2b), whose rank exceeds r (FedPara's point), and its dropouts.</summary>
public class LohaTests
{
    static LohaLayer Loha(int inF, int outF, LohaConfig config) => Layer(l => new LohaLayer(l), inF, outF, config);

    [Fact]
    public void DeltaWeight_IsTheScaledHadamardProductOfTwoRankRProducts_AndTheForwardAddsIt()
    {
        const int inF = 6, outF = 5, r = 3;
        var layer = Loha(inF, outF, new LohaConfig { R = r, Alpha = 7.5, InitWeights = false });
        var w1a = layer.Factor("hada_w1_a", "a").ToDoubleArray();
        var w1b = layer.Factor("hada_w1_b", "a").ToDoubleArray();
        var w2a = layer.Factor("hada_w2_a", "a").ToDoubleArray();
        var w2b = layer.Factor("hada_w2_b", "a").ToDoubleArray();
        var p1 = NaiveProduct(w1a, w1b, outF, r, inF);
        var p2 = NaiveProduct(w2a, w2b, outF, r, inF);
        var delta = p1.Select((v, i) => v * p2[i] * 7.5 / r).ToArray();
        AssertClose(delta, layer.DeltaWeight("a").ToDoubleArray(), 1e-12);

        var x = Randn64(4, 3, inF);
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var expected = NaiveMatMulT(x.ToDoubleArray(), 3, w.Select((v, i) => v + delta[i]).ToArray(), inF, outF).Select((v, i) => v + bias[i % outF]).ToArray();
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Update_HasRankRSquared_AboveTheRankROfEachFactor(int r)
    {
        // Generic factors give rank min(r², width): a LoRA of the same r stays at rank r.
        const int width = 12;
        var layer = Loha(width, width, new LohaConfig { R = r, InitWeights = false });
        int rank = Rank(layer.DeltaWeight("a").ToDoubleArray(), width, width);
        Assert.True(rank > r, $"rank {rank} is not above r = {r}");
        Assert.Equal(Math.Min(r * r, width), rank);
    }

    [Fact]
    public void DefaultInit_StartsAtTheBase_WithOnlyW2bZero()
    {
        var layer = Loha(6, 5, new LohaConfig { R = 2 });
        Assert.All(layer.Factor("hada_w2_b", "a").ToDoubleArray(), v => Assert.Equal(0, v));
        Assert.Contains(layer.Factor("hada_w1_a", "a").ToDoubleArray(), v => v != 0);
        Assert.Contains(layer.Factor("hada_w2_a", "a").ToDoubleArray(), v => v != 0);
        var x = Randn64(5, 2, 6);
        Assert.Equal(layer.BaseLayer.Forward(x).ToDoubleArray(), layer.Forward(x).ToDoubleArray());
    }

    [Fact]
    public void RankDropout_DropsRowsOfTheUpdate_AndDividesByTheMaskMean()
    {
        const int outF = 40;
        var layer = Loha(6, outF, new LohaConfig { R = 2, InitWeights = false, RankDropout = 0.5 });
        var (kept, factor) = RankDropoutPattern(layer, Randn64(6, 3, 6));
        Assert.InRange(kept, 1, outF - 1);
        // LoHa always rescales (PEFT: drop /= drop.mean()).
        Assert.Equal((double)outF / kept, factor, 9);
    }

    [Fact]
    public void ModuleDropout_SkipsTheWholeAdapterInTrainingOnly()
    {
        var layer = Loha(6, 5, new LohaConfig { R = 2, InitWeights = false, ModuleDropout = 0.5 });
        var x = Randn64(7, 2, 6);
        var baseOut = layer.BaseLayer.Forward(x).ToDoubleArray();
        var adapted = layer.Forward(x).ToDoubleArray();
        layer.Train();
        int skipped = 0, applied = 0;
        for (int i = 0; i < 60; i++)
        {
            var y = layer.Forward(x).ToDoubleArray();
            if (y.SequenceEqual(baseOut)) skipped++;
            else { AssertClose(adapted, y, 1e-12); applied++; }
        }
        // 60 draws at p = 0.5: both outcomes occur (each is missing with probability 2^-60).
        Assert.True(skipped > 0 && applied > 0, $"skipped {skipped}, applied {applied}");
        layer.Eval();
        AssertClose(adapted, layer.Forward(x).ToDoubleArray(), 0);
    }

    [Fact]
    public void EffectiveConv2d_IsRefused()
    {
        var e = Assert.Throws<NotSupportedException>(() => Peft.Apply(TinyGpt(), new LohaConfig { UseEffectiveConv2d = true, TargetModules = ["qkv"] }));
        Assert.Contains("use_effective_conv2d", e.Message);
    }
}
