using FsCheck.Xunit;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

public class AttentionTests
{
    /// <summary>
    /// Per head: softmax(q k^T / sqrt(D) with blocked keys at -inf) v, heads concatenated, then the output projection;
    /// q, k, v taken from the module's qkv projection (itself checked against loops in LayerTests).
    /// </summary>
    static double[] NaiveAttention(MultiHeadAttention attn, Tensor x, bool[,]? padding)
    {
        int b = x.Size(0), t = x.Size(1), h = attn.Options.Heads, d = attn.HeadDim, c = attn.Options.DModel;
        var qkv = attn.Qkv.Forward(x).ToDoubleArray();
        int w = 3 * h * d;
        var concat = new double[b * t * c];
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++)
                for (int i = 0; i < t; i++)
                {
                    var scores = new double[t];
                    for (int j = 0; j < t; j++)
                    {
                        bool blocked = (attn.Options.Causal && j > i) || (padding?[bi, j] ?? false);
                        double s = 0;
                        for (int e = 0; e < d; e++) s += qkv[(bi * t + i) * w + hi * d + e] * qkv[(bi * t + j) * w + h * d + hi * d + e];
                        scores[j] = blocked ? double.NegativeInfinity : s / Math.Sqrt(d);
                    }
                    double max = scores.Max(), z = scores.Sum(s => Math.Exp(s - max));
                    for (int e = 0; e < d; e++)
                    {
                        double acc = 0;
                        for (int j = 0; j < t; j++) acc += Math.Exp(scores[j] - max) / z * qkv[(bi * t + j) * w + 2 * h * d + hi * d + e];
                        concat[(bi * t + i) * c + hi * d + e] = acc;
                    }
                }
        return NaiveLinear(concat, b * t, attn.Proj.Weight.ToDoubleArray(), attn.Proj.Bias!.ToDoubleArray(), c, c);
    }

    [Fact]
    public void CausalAttention_EqualsNaivePerHeadSoftmaxAttention()
    {
        var attn = new MultiHeadAttention(new AttentionOptions(8, 2), new Generator(1));
        var x = Randn(2, 2, 5, 8);
        AssertClose(NaiveAttention(attn, x, null), attn.Forward(x).ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void NonCausalAttentionWithPaddingMask_EqualsNaiveAttentionThatSkipsPaddedKeys()
    {
        var attn = new MultiHeadAttention(new AttentionOptions(8, 4, Causal: false), new Generator(3));
        var x = Randn(4, 2, 4, 8);
        var padding = new bool[,] { { false, false, true, true }, { false, false, false, true } };
        AssertClose(NaiveAttention(attn, x, padding), attn.Forward(x, Tensor.FromArray(padding), null).ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void PaddedKeys_DoNotInfluenceAnyOutput()
    {
        var attn = new MultiHeadAttention(new AttentionOptions(8, 2, Causal: false), new Generator(5));
        var x = Randn(6, 1, 4, 8).ToDoubleArray();
        var changed = (double[])x.Clone();
        for (int e = 0; e < 8; e++) changed[3 * 8 + e] += 10; // only the padded position differs
        var mask = Tensor.FromArray(new bool[,] { { false, false, false, true } });
        var a = attn.Forward(Tensor.FromArray(x, [1, 4, 8]).To(DType.Float32), mask, null).ToDoubleArray();
        var b = attn.Forward(Tensor.FromArray(changed, [1, 4, 8]).To(DType.Float32), mask, null).ToDoubleArray();
        AssertClose(a.Take(3 * 8).ToArray(), b.Take(3 * 8).ToArray(), 1e-6);
    }

    [Fact]
    public void GroupedQueryAttention_EqualsFullAttentionWithRepeatedKeyValueHeads()
    {
        int c = 8, h = 4, kv = 2, d = c / h, group = h / kv;
        var gqa = new MultiHeadAttention(new AttentionOptions(c, h, kv), new Generator(7));
        var full = new MultiHeadAttention(new AttentionOptions(c, h), new Generator(8));
        // Rows of the full qkv weight: the same queries, then keys and values with kv head (j / group) for head j.
        var w = gqa.Qkv.Weight.ToDoubleArray();
        var bias = gqa.Qkv.Bias!.ToDoubleArray();
        var rows = new List<int>();
        rows.AddRange(Enumerable.Range(0, h * d));
        for (int part = 0; part < 2; part++)
            for (int j = 0; j < h; j++)
                for (int e = 0; e < d; e++) rows.Add(h * d + part * kv * d + (j / group) * d + e);
        var fullW = rows.SelectMany(r => w.Skip(r * c).Take(c)).ToArray();
        var fullB = rows.Select(r => bias[r]).ToArray();
        using (Autograd.Autograd.NoGrad())
        {
            full.Qkv.Weight.CopyFrom(Tensor.FromArray(fullW, [3 * c, c]));
            full.Qkv.Bias!.CopyFrom(Tensor.FromArray(fullB, [3 * c]));
            full.Proj.Weight.CopyFrom(gqa.Proj.Weight);
            full.Proj.Bias!.CopyFrom(gqa.Proj.Bias!);
        }
        var x = Randn(9, 2, 5, c);
        AssertClose(full.Forward(x).ToDoubleArray(), gqa.Forward(x).ToDoubleArray(), 1e-5);
    }

    [Property(MaxTest = 30)]
    public bool Rotary_PreservesTheNormOfEveryHeadVector(byte seed, byte start)
    {
        var x = Randn64(seed, 1, 2, 3, 8);
        var y = RotaryEmbedding.Apply(x, start);
        var n1 = x.Square().Sum(-1).ToDoubleArray();
        var n2 = y.Square().Sum(-1).ToDoubleArray();
        return n1.Zip(n2).All(p => Math.Abs(p.First - p.Second) <= 1e-9 * (1 + p.First));
    }

    [Property(MaxTest = 30)]
    public bool Rotary_MakesQueryKeyProductsDependOnlyOnTheRelativePosition(byte seed, byte m, byte n, byte shift)
    {
        var q = Randn64(seed, 1, 1, 1, 8);
        var k = Randn64(seed + 1000UL, 1, 1, 1, 8);
        double Dot(int pq, int pk) => (RotaryEmbedding.Apply(q, pq) * RotaryEmbedding.Apply(k, pk)).Sum().Item();
        double a = Dot(m, n), b = Dot(m + shift, n + shift);
        return Math.Abs(a - b) <= 1e-9 * (1 + Math.Abs(a));
    }

    [Fact]
    public void Rotary_AtPositionZeroIsTheIdentityAndAtPositionOneRotatesEachPairByItsFrequency()
    {
        var x = Randn64(3, 1, 1, 1, 4);
        Assert.Equal(x.ToDoubleArray(), RotaryEmbedding.Apply(x, 0).ToDoubleArray());
        var xs = x.ToDoubleArray();
        var y = RotaryEmbedding.Apply(x, 1).ToDoubleArray();
        // Pairs (0, 2) and (1, 3) turn by angles 1 and 10000^(-1/2).
        for (int i = 0; i < 2; i++)
        {
            double angle = Math.Pow(10000, -2.0 * i / 4);
            AssertClose(xs[i] * Math.Cos(angle) - xs[i + 2] * Math.Sin(angle), y[i], 1e-12);
            AssertClose(xs[i + 2] * Math.Cos(angle) + xs[i] * Math.Sin(angle), y[i + 2], 1e-12);
        }
    }

    [Theory]
    [InlineData(false, null)]
    [InlineData(true, null)]
    [InlineData(true, 1)]
    public void KvCacheIncrementalDecoding_EqualsFullRecomputationAtEveryPosition(bool rotary, int? kvHeads)
    {
        var gpt = TinyGpt(layers: 2, rotary: rotary, kvHeads: kvHeads, seed: 21);
        ScrambleAll(gpt, 22, 0.3);
        gpt.Eval();
        var ids = Ids(new long[,] { { 1, 4, 2, 8, 0, 3, 7 }, { 5, 5, 9, 1, 2, 6, 10 } });
        var full = gpt.Forward(ids);
        var cache = new KvCache(2);
        var pieces = new List<Tensor> { gpt.Forward(ids.Narrow(1, 0, 3), cache) };
        for (int t = 3; t < 7; t++) pieces.Add(gpt.Forward(ids.Narrow(1, t, 1), cache));
        Assert.Equal(7, cache.Length);
        AssertClose(full, Tensor.Concat(pieces.ToArray(), 1), 1e-5);
    }
}
