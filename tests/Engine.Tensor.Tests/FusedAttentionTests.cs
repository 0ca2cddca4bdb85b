using Engine.Recording;
using Xunit;

namespace Engine.Tests;

/// <summary>
/// The fused inference attention kernel against a naive reference in double: softmax(q k^T / sqrt(D) + masks) v
/// computed one query row at a time. Shapes cross every blocking boundary of the kernel (query rows not a multiple of
/// the register tile, more rows than one block, keys not a multiple of a vector, odd head sizes), operands are strided
/// views as attention layers produce them, and masks include fully masked rows.
/// </summary>
public class FusedAttentionTests
{
    /// <summary>q [B, H, T, D], k/v [B, H, Tk, D]; masked[b][j] hides key j of batch entry b.</summary>
    static double[] Reference(double[] q, double[] k, double[] v, int b, int h, int t, int tk, int d, bool[,]? masked, bool causal, int past)
    {
        var y = new double[b * t * h * d];
        double scale = 1 / Math.Sqrt(d);
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++)
                for (int i = 0; i < t; i++)
                {
                    var s = new double[tk];
                    for (int j = 0; j < tk; j++)
                    {
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += q[(((bi * h + hi) * t) + i) * d + c] * k[(((bi * h + hi) * tk) + j) * d + c];
                        bool hidden = (masked?[bi, j] ?? false) || (causal && j > past + i);
                        s[j] = hidden ? double.NegativeInfinity : dot * scale;
                    }
                    double max = s.Max(), sum = 0;
                    for (int j = 0; j < tk; j++) sum += s[j] = Math.Exp(s[j] - max);
                    for (int c = 0; c < d; c++)
                    {
                        double acc = 0;
                        for (int j = 0; j < tk; j++) acc += s[j] / sum * v[(((bi * h + hi) * tk) + j) * d + c];
                        y[((bi * t + i) * h + hi) * d + c] = acc;   // [B, T, H, D]
                    }
                }
        return y;
    }

    /// <summary>A [B, H, T, D] view of a [B, T, H, D] tensor, the strided layout a Linear's output gives the heads.</summary>
    static Tensor Heads(double[] bhtd, int b, int h, int t, int d, DType dtype)
    {
        var bthd = Tensor.FromArray(bhtd, [b, h, t, d]).Transpose(1, 2).Contiguous();
        return bthd.To(dtype).Transpose(1, 2);
    }

    [Theory]
    [InlineData(DType.Float32, 2, 3, 17, 17, 32, false, 0, false)]
    [InlineData(DType.Float32, 1, 2, 5, 45, 7, false, 0, true)]
    [InlineData(DType.Float64, 2, 2, 350, 350, 5, true, 0, true)]
    [InlineData(DType.Float64, 1, 3, 6, 33, 16, true, 27, false)]
    [InlineData(DType.Float32, 3, 1, 1, 1, 1, false, 0, false)]
    [InlineData(DType.Float32, 2, 4, 40, 40, 64, true, 0, true)]
    public void TryFusedAttention_MatchesTheNaiveReference(DType dtype, int b, int h, int t, int tk, int d, bool causal, int past, bool withMask)
    {
        var rng = new System.Random(b * 1000 + t * 10 + d);
        double[] Values(int n) => Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 4 - 2).ToArray();
        double[] q = Values(b * h * t * d), k = Values(b * h * tk * d), v = Values(b * h * tk * d);
        bool[,]? masked = null;
        Tensor? mask = null;
        if (withMask)
        {
            masked = new bool[b, tk];
            var flat = new bool[b * tk];
            for (int bi = 0; bi < b; bi++)
                for (int j = 0; j < tk; j++)
                    // Batch entry 0 keeps key 0 visible; the last entry hides every key when b > 1 (its rows are NaN).
                    flat[bi * tk + j] = masked[bi, j] = (b > 1 && bi == b - 1) || (j > 0 && rng.Next(3) == 0);
            mask = Tensor.FromArray(flat, [b, tk]);
        }
        Tensor? y;
        using (Autograd.Autograd.NoGrad())
            Assert.True(Tensor.TryFusedAttention(Heads(q, b, h, t, d, dtype), Heads(k, b, h, tk, d, dtype), Heads(v, b, h, tk, d, dtype),
                causal, past, mask, out y));
        Assert.Equal(new[] { b, t, h * d }, y!.Shape);
        var expected = Reference(q, k, v, b, h, t, tk, d, masked, causal, past);
        var got = y.ToDoubleArray();
        double tol = dtype == DType.Float32 ? 2e-5 : 1e-12;
        for (int i = 0; i < got.Length; i++)
        {
            if (double.IsNaN(expected[i])) { Assert.True(double.IsNaN(got[i]), $"element {i}: {got[i]}, expected NaN (all keys masked)"); continue; }
            Assert.True(Math.Abs(got[i] - expected[i]) <= tol * (1 + Math.Abs(expected[i])), $"element {i}: {got[i]:R}, expected {expected[i]:R}");
        }
    }

    [Fact]
    public void TryFusedAttention_WhileRecording_RecordsOnlyWhenAnInputRequiresGrad_AndGivesTheSameOutput()
    {
        // One kernel whether or not anything requires grad: a model's outputs must not depend on frozen parameters.
        var q = Tensor.Randn([1, 2, 3, 4]).RequireGrad();
        var k = Tensor.Randn([1, 2, 3, 4]);
        Assert.True(Tensor.TryFusedAttention(q, k, k, true, 0, null, out var recorded));
        Assert.True(recorded.RequiresGrad);
        Assert.True(Tensor.TryFusedAttention(q.Detach(), k, k, true, 0, null, out var frozen));
        Assert.False(frozen.RequiresGrad);
        bool was = GradMode.IsEnabled;
        GradMode.IsEnabled = false;
        try
        {
            Assert.True(Tensor.TryFusedAttention(q, k, k, true, 0, null, out var inference));
            Assert.False(inference.RequiresGrad);
            Assert.Equal(inference.ToArray<float>(), recorded.ToArray<float>());
            Assert.Equal(inference.ToArray<float>(), frozen.ToArray<float>());
            Assert.False(Tensor.TryFusedAttention(q.Detach().To(DType.Int64), k.To(DType.Int64), k.To(DType.Int64), false, 0, null, out var declined));
            Assert.Null(declined);
        }
        finally { GradMode.IsEnabled = was; }
    }

    [Fact]
    public void TryFusedAttention_BadShapes_NameTheOp()
    {
        var q = Tensor.Zeros(2, 3, 4, 8);
        using var noGrad = Autograd.Autograd.NoGrad();
        var e = Assert.Throws<ArgumentException>(() => Tensor.TryFusedAttention(q, Tensor.Zeros(2, 3, 5, 7), Tensor.Zeros(2, 3, 5, 7), false, 0, null, out _));
        Assert.Contains("Attention", e.Message);
        e = Assert.Throws<ArgumentException>(() => Tensor.TryFusedAttention(q, q, q, false, 0, Tensor.Zeros([2, 5], DType.Bool), out _));
        Assert.Contains("key padding mask must be [2, 4]", e.Message);
    }
}
