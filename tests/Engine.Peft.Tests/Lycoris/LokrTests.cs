using System.Text.Json.Nodes;
using Engine.Peft.Lycoris;
using Xunit;
using static Engine.Peft.Tests.Lycoris.LycorisTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Lycoris;

/// <summary>LoKr: the factorisation rule, ΔW = (alpha / r) kron(W1, W2) and its rank, PEFT's factor forms, inits and dropouts.</summary>
public class LokrTests
{
    static LokrLayer Lokr(int inF, int outF, LokrConfig config) => Layer(l => new LokrLayer(l), inF, outF, config);

    [Theory]
    [InlineData(768, -1, 24, 32)]
    [InlineData(1024, -1, 32, 32)]
    [InlineData(4096, -1, 64, 64)]
    [InlineData(11008, -1, 86, 128)]
    [InlineData(768, 8, 8, 96)]
    // PEFT's docstring examples.
    [InlineData(256, -1, 16, 16)]
    [InlineData(128, -1, 8, 16)]
    [InlineData(127, -1, 1, 127)]
    [InlineData(128, 4, 4, 32)]
    // A factor that does not divide: the divisor walk stops at the last divisor <= factor.
    [InlineData(96, 5, 4, 24)]
    public void Factorization_FollowsPeftsRule(int dimension, int factor, int m, int n) =>
        Assert.Equal((m, n), LokrFactorization.Split(dimension, factor));

    [Theory]
    [InlineData(false, 4)]
    [InlineData(true, 1)]
    public void DeltaWeight_IsTheScaledKroneckerProduct_AndTheForwardAddsIt(bool decomposeBoth, int r)
    {
        // out 16 = 4 x 4, in 24 = 4 x 6: r 4 keeps both factors whole, r 1 with decompose_both splits both.
        const int inF = 24, outF = 16;
        var layer = Lokr(inF, outF, new LokrConfig { R = r, Alpha = 3, DecomposeBoth = decomposeBoth, InitWeights = LokrInit.Random });
        var w1 = layer.W1("a").ToDoubleArray();
        var w2 = layer.W2("a").ToDoubleArray();
        var delta = new double[outF * inF];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < 4; k++)
                    for (int l = 0; l < 6; l++)
                        delta[(i * 4 + k) * inF + j * 6 + l] = 3.0 / r * w1[i * 4 + j] * w2[k * 6 + l];
        AssertClose(delta, layer.DeltaWeight("a").ToDoubleArray(), 1e-12);

        var x = Randn64(4, 3, inF);
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var expected = NaiveMatMulT(x.ToDoubleArray(), 3, w.Select((v, i) => v + delta[i]).ToArray(), inF, outF).Select((v, i) => v + bias[i % outF]).ToArray();
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 3)]
    [InlineData(3, 2)]
    [InlineData(4, 4)]
    public void UpdateRank_IsTheProductOfTheFactorRanks(int rank1, int rank2)
    {
        // W1 [4, 4] of rank rank1 and W2 [4, 6] of rank rank2, each a sum of seeded outer products.
        var layer = Lokr(24, 16, new LokrConfig { R = 4, InitWeights = LokrInit.Random });
        var w1 = SumOfOuterProducts(4, 4, rank1, 31);
        var w2 = SumOfOuterProducts(4, 6, rank2, 32);
        Assert.Equal(rank1, Rank(w1, 4, 4));
        Assert.Equal(rank2, Rank(w2, 4, 6));
        Set(layer.AdapterTensors("a").Single(t => t.Key == "lokr_w1").Tensor, w1);
        Set(layer.AdapterTensors("a").Single(t => t.Key == "lokr_w2").Tensor, w2);
        Assert.Equal(rank1 * rank2, Rank(layer.DeltaWeight("a").ToDoubleArray(), 16, 24));
    }

    static double[] SumOfOuterProducts(int rows, int cols, int rank, ulong seed)
    {
        var u = Randn64(seed, rank, rows).ToDoubleArray();
        var v = Randn64(seed + 100, rank, cols).ToDoubleArray();
        var m = new double[rows * cols];
        for (int k = 0; k < rank; k++)
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) m[i * cols + j] += u[k * rows + i] * v[k * cols + j];
        return m;
    }

    [Theory]
    // out 96 = 8 x 12, in 32 = 4 x 8: W2 [12, 8] is whole iff r >= 6; W1 [8, 4] split iff decompose_both and r < 4.
    [InlineData(8, false, "lokr_w1 [8,4]; lokr_w2 [12,8]")]
    [InlineData(6, true, "lokr_w1 [8,4]; lokr_w2 [12,8]")]
    [InlineData(5, false, "lokr_w1 [8,4]; lokr_w2_a [12,5]; lokr_w2_b [5,8]")]
    [InlineData(3, true, "lokr_w1_a [8,3]; lokr_w1_b [3,4]; lokr_w2_a [12,3]; lokr_w2_b [3,8]")]
    [InlineData(4, true, "lokr_w1 [8,4]; lokr_w2_a [12,4]; lokr_w2_b [4,8]")]
    public void FactorForms_FollowPeftsThresholds(int r, bool decomposeBoth, string expected)
    {
        var layer = Lokr(32, 96, new LokrConfig { R = r, DecomposeBoth = decomposeBoth });
        Assert.Equal(expected, string.Join("; ", layer.AdapterTensors("a").Select(t => $"{t.Key} [{string.Join(",", t.Tensor.Shape)}]").Order(StringComparer.Ordinal)));
    }

    [Theory]
    [InlineData(LokrInit.Default, true, false)]
    [InlineData(LokrInit.Lycoris, false, true)]
    public void Inits_ZeroOneFactor_AndStartAtTheBase(LokrInit init, bool w1Zero, bool w2Zero)
    {
        var layer = Lokr(24, 16, new LokrConfig { R = 1, DecomposeBoth = true, InitWeights = init });
        // Split forms: the default zeroes W1a, "lycoris" W2b; the partners stay random.
        Assert.Equal(w1Zero, layer.AdapterTensors("a").Single(t => t.Key == "lokr_w1_a").Tensor.ToDoubleArray().All(v => v == 0));
        Assert.Equal(w2Zero, layer.AdapterTensors("a").Single(t => t.Key == "lokr_w2_b").Tensor.ToDoubleArray().All(v => v == 0));
        Assert.Contains(layer.AdapterTensors("a").Single(t => t.Key == "lokr_w1_b").Tensor.ToDoubleArray(), v => v != 0);
        Assert.Contains(layer.AdapterTensors("a").Single(t => t.Key == "lokr_w2_a").Tensor.ToDoubleArray(), v => v != 0);
        var x = Randn64(5, 2, 24);
        Assert.Equal(layer.BaseLayer.Forward(x).ToDoubleArray(), layer.Forward(x).ToDoubleArray());
    }

    [Theory]
    [InlineData("true", LokrInit.Default)]
    [InlineData("false", LokrInit.Random)]
    [InlineData("\"lycoris\"", LokrInit.Lycoris)]
    public void InitWeights_ReadsAndWritesPeftsJson(string json, LokrInit expected)
    {
        var config = (LokrConfig)PeftConfig.FromJson(JsonNode.Parse($"{{\"peft_type\": \"LOKR\", \"init_weights\": {json}, \"decompose_factor\": 8}}")!.AsObject());
        Assert.Equal(expected, config.InitWeights);
        Assert.Equal(8, config.DecomposeFactor);
        Assert.Equal(json, config.ToJson()["init_weights"]!.ToJsonString());
    }

    [Fact]
    public void InitWeights_RejectsOtherNames() =>
        Assert.Throws<InvalidDataException>(() => PeftConfig.FromJson(JsonNode.Parse("{\"peft_type\": \"LOKR\", \"init_weights\": \"gaussian\"}")!.AsObject()));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RankDropout_DropsRows_DividingByTheMaskMeanOnlyWithRankDropoutScale(bool scale)
    {
        const int outF = 40;
        var layer = Lokr(6, outF, new LokrConfig { R = 8, InitWeights = LokrInit.Random, RankDropout = 0.5, RankDropoutScale = scale });
        var (kept, factor) = RankDropoutPattern(layer, Randn64(6, 3, 6));
        Assert.InRange(kept, 1, outF - 1);
        Assert.Equal(scale ? (double)outF / kept : 1.0, factor, 9);
    }
}
