using Engine.Nn.Merging;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Merging;

/// <summary>WIDEN (spec adapters-other.md 19; reference yule-BUAA/MergeLLM <c>merging_methods.py::widen_merging</c>).</summary>
public class WidenMergeTests
{
    /// <summary>The spec's oracle: with one model every score is 1 (softmax over one; calibration 1), so merged == F_1.</summary>
    [Fact]
    public void OneModel_GivesTheFineTunedModelExactly()
    {
        var b = new Dictionary<string, Tensor>
        {
            ["blocks.0.attn.qkv.weight"] = Randn(1, 6, 4),
            ["tok.weight"] = Randn(2, 5, 4),
            ["ln_f.weight"] = Randn(3, 4),
            ["experts"] = Randn(4, 2, 3, 2),
        };
        var f = b.ToDictionary(kv => kv.Key, kv => kv.Value + Randn(10 + (ulong)kv.Key.Length, kv.Value.Shape) * 0.1);

        var merged = new WidenMerge().Merge(b, [f]);

        foreach (var (name, t) in f)
            Assert.Equal(t.ToArray<float>(), merged[name].ToArray<float>());
    }

    /// <summary>
    /// The spec written as loops over an [out, in] matrix: per input column j the magnitude and direction change,
    /// ranks counted (not sorted), softmax over models, calibration, and the per-column weighted sum of deltas.
    /// </summary>
    static double[,] NaiveColumns(double[,] p, double[][,] f, double tRatio, double sCalib)
    {
        int rows = p.GetLength(0), cols = p.GetLength(1), n = f.Length;
        double Norm(double[,] w, int j) => Math.Sqrt(Enumerable.Range(0, rows).Sum(i => w[i, j] * w[i, j]));
        var score = new double[2][,]; // [0]: magnitude, [1]: direction
        for (int kind = 0; kind < 2; kind++)
        {
            var change = new double[n, cols];
            for (int t = 0; t < n; t++)
                for (int j = 0; j < cols; j++)
                {
                    double np = Norm(p, j), nf = Norm(f[t], j);
                    double cos = Enumerable.Range(0, rows).Sum(i => p[i, j] / np * (f[t][i, j] / nf));
                    change[t, j] = kind == 0 ? Math.Abs(nf - np) : 1 - cos;
                }
            var rank = new double[n, cols];
            for (int t = 0; t < n; t++)
                for (int j = 0; j < cols; j++)
                    rank[t, j] = Enumerable.Range(0, cols).Count(q => change[t, q] < change[t, j] || (change[t, q] == change[t, j] && q < j)) / (double)cols;
            score[kind] = new double[n, cols];
            for (int t = 0; t < n; t++)
            {
                double mean = Enumerable.Range(0, cols).Average(j => rank[t, j]);
                for (int j = 0; j < cols; j++)
                {
                    double softmax = Math.Exp(rank[t, j]) / Enumerable.Range(0, n).Sum(u => Math.Exp(rank[u, j]));
                    score[kind][t, j] = rank[t, j] > mean * tRatio ? sCalib : softmax;
                }
            }
        }
        var merged = (double[,])p.Clone();
        for (int t = 0; t < n; t++)
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                    merged[i, j] += 0.5 * (score[0][t, j] + score[1][t, j]) * (f[t][i, j] - p[i, j]);
        return merged;
    }

    static double[] NaiveEntries(double[] p, double[][] f, double tRatio, double sCalib)
    {
        int n = f.Length;
        var merged = (double[])p.Clone();
        for (int t = 0; t < n; t++)
        {
            double mean = p.Select((v, k) => Math.Abs(f[t][k] - v)).Average();
            for (int k = 0; k < p.Length; k++)
            {
                double significance = Math.Abs(f[t][k] - p[k]);
                double softmax = Math.Exp(significance) / f.Sum(g => Math.Exp(Math.Abs(g[k] - p[k])));
                merged[k] += (significance > mean * tRatio ? sCalib : softmax) * (f[t][k] - p[k]);
            }
        }
        return merged;
    }

    static double[,] Matrix(Tensor t)
    {
        var v = t.ToDoubleArray();
        int r = t.Shape[0], c = t.Shape[1];
        var m = new double[r, c];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++) m[i, j] = v[i * c + j];
        return m;
    }

    static double[,] Transpose(double[,] m)
    {
        var t = new double[m.GetLength(1), m.GetLength(0)];
        for (int i = 0; i < m.GetLength(0); i++)
            for (int j = 0; j < m.GetLength(1); j++) t[j, i] = m[i, j];
        return t;
    }

    static double[] Flat(double[,] m) => m.Cast<double>().ToArray();

    [Theory]
    [InlineData(1.0, 1.0)]
    [InlineData(0.9, 0.7)]
    public void TwoModels_MatchNaiveLoops(double tRatio, double sCalib)
    {
        var b = new Dictionary<string, Tensor>
        {
            ["head.weight"] = Randn64(20, 2, 3), // Linear [out 2, in 3]: 3 columns of length 2
            ["tok.weight"] = Randn64(21, 3, 2),  // embedding [3 tokens, dim 2]: one magnitude per token
            ["ln_f.bias"] = Randn64(22, 3),
        };
        var models = new[] { 30UL, 40UL }.Select(s => (IReadOnlyDictionary<string, Tensor>)b.ToDictionary(
            kv => kv.Key, kv => kv.Value + Randn64(s + (ulong)kv.Key.Length, kv.Value.Shape) * 0.5)).ToList();

        var merged = new WidenMerge(tRatio, sCalib).Merge(b, models);

        var linear = NaiveColumns(Matrix(b["head.weight"]), models.Select(m => Matrix(m["head.weight"])).ToArray(), tRatio, sCalib);
        AssertClose(Flat(linear), merged["head.weight"].ToDoubleArray(), 1e-12, "head.weight");
        // The reference transposes the token embedding to dim × vocab, so its "columns" are the tokens.
        var embedding = Transpose(NaiveColumns(Transpose(Matrix(b["tok.weight"])), models.Select(m => Transpose(Matrix(m["tok.weight"]))).ToArray(), tRatio, sCalib));
        AssertClose(Flat(embedding), merged["tok.weight"].ToDoubleArray(), 1e-12, "tok.weight");
        var asLinear = NaiveColumns(Matrix(b["tok.weight"]), models.Select(m => Matrix(m["tok.weight"])).ToArray(), tRatio, sCalib);
        Assert.True(Flat(asLinear).Zip(Flat(embedding)).Any(p => Math.Abs(p.First - p.Second) > 1e-6), "the axis must matter for this data");
        var entries = NaiveEntries(b["ln_f.bias"].ToDoubleArray(), models.Select(m => m["ln_f.bias"].ToDoubleArray()).ToArray(), tRatio, sCalib);
        AssertClose(entries, merged["ln_f.bias"].ToDoubleArray(), 1e-12, "ln_f.bias");
    }

    [Fact]
    public void EmbeddingNames_AreRecognisedAtAnyDepth()
    {
        Assert.True(WidenMerge.IsEmbeddingName("tok.weight"));
        Assert.True(WidenMerge.IsEmbeddingName("model.embed_tokens.weight"));
        Assert.True(WidenMerge.IsEmbeddingName("bert.embeddings.word_embeddings.weight"));
        Assert.False(WidenMerge.IsEmbeddingName("head.weight"));
        Assert.False(WidenMerge.IsEmbeddingName("tok.bias"));
    }

    [Fact]
    public void BadInput_IsNamed()
    {
        Assert.Contains("widen", Assert.Throws<ArgumentException>(() => new WidenMerge(double.NaN)).Message);
        var b = new Dictionary<string, Tensor> { ["w"] = Randn64(1, 2, 2) };
        var wrong = new Dictionary<string, Tensor> { ["w"] = Randn64(2, 2, 3) };
        Assert.Contains("widen: 'w' of model 0", Assert.Throws<ArgumentException>(() => new WidenMerge().Merge(b, [wrong])).Message);
    }
}
