using Xunit;

namespace Engine.Tests;

public class AddmmTests
{
    /// <summary>Addend shapes torch.addmm accepts for a [4, 5] product: a row (a bias), the full matrix, a column, a scalar.</summary>
    static readonly int[][] Addends = [[5], [1, 5], [4, 5], [4, 1], [1], []];

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Addmm_EveryAddendShapeAndLayout_MatchesReference(DType dtype)
    {
        var rng = new System.Random(2);
        foreach (var shape in Addends)
            foreach (var la in Samples.Layouts)
                foreach (var lb in Samples.Layouts)
                {
                    var c = Samples.Make(rng, shape, dtype);
                    var a = Samples.Make(rng, [4, 3], dtype, la);
                    var b = Samples.Make(rng, [3, 5], dtype, lb);
                    var y = Tensor.Addmm(c.T, a.T, b.T);
                    var expected = Ref.Zip(c.R.BroadcastTo([4, 5]), Ref.MatMul(a.R, b.R), (x, p) => x + p);
                    string what = $"{dtype} addend {Samples.Show(shape)}, {la} @ {lb}";
                    Assert.Equal(dtype, y.DType);
                    // Bound: rounding of k products of magnitude <= 4 plus the addend, in the dtype's epsilon.
                    Check.Scaled(expected, new Ref(expected.Shape, expected.Data.Select(_ => 3 * 4 + 2.0).ToArray()), y, what);
                }
    }

    [Fact]
    public void Addmm_LargeProductSpanningSeveralDepthBlocks_AddsTheAddendOnce()
    {
        // k = 600 is cut into depth blocks; the addend must enter the first block only (later ones accumulate).
        var rng = new System.Random(3);
        var c = Samples.Make(rng, [70], DType.Float64);
        var a = Samples.Make(rng, [33, 600], DType.Float64);
        var b = Samples.Make(rng, [600, 70], DType.Float64, Layout.Transposed);
        var expected = Ref.Zip(c.R.BroadcastTo([33, 70]), Ref.MatMul(a.R, b.R), (x, p) => x + p);
        Check.Close(expected, Tensor.Addmm(c.T, a.T, b.T), 1e-12, 1e-12, "k = 600");
    }

    [Fact]
    public void Addmm_EmptyInnerDimension_IsTheBroadcastAddend()
    {
        var c = Tensor.FromArray(new float[] { 1, -2, 3 });
        var y = Tensor.Addmm(c, Tensor.Zeros(2, 0), Tensor.Zeros(0, 3));
        Assert.Equal(new float[] { 1, -2, 3, 1, -2, 3 }, y.ToArray<float>());
    }

    [Fact]
    public void Addmm_NonFiniteAddend_PassesThrough()
    {
        // The accumulate path adds onto the addend: an inf bias stays inf, a NaN stays NaN (as torch).
        var c = Tensor.FromArray(new float[] { float.PositiveInfinity, float.NaN });
        var y = Tensor.Addmm(c, Tensor.Ones(1, 2), Tensor.Ones(2, 2)).ToArray<float>();
        Assert.True(float.IsPositiveInfinity(y[0]));
        Assert.True(float.IsNaN(y[1]));
    }

    [Theory]
    [InlineData(new[] { 5 }, new[] { 4, 3 }, new[] { 2, 5 }, "inner dimensions 3 and 2 differ")]
    [InlineData(new[] { 3 }, new[] { 4, 3 }, new[] { 3, 5 }, "cannot be broadcast")]
    [InlineData(new[] { 2, 4, 5 }, new[] { 4, 3 }, new[] { 3, 5 }, "does not broadcast to the product's [4, 5]")]
    [InlineData(new[] { 5 }, new[] { 2, 4, 3 }, new[] { 3, 5 }, "expects matrices")]
    public void Addmm_BadShapes_NameTheOpAndShapes(int[] c, int[] a, int[] b, string message)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => Tensor.Addmm(Tensor.Zeros(c), Tensor.Zeros(a), Tensor.Zeros(b)));
        Assert.Contains("Addmm", e.Message);
        Assert.Contains(message, e.Message);
    }
}

/// <summary>
/// The GEMM with the bias and GELU applied to each finished tile, against the same math in double precision by loops
/// (MathNet's erf), and against the composed Addmm then Gelu.
/// </summary>
public class AddmmGeluTests
{
    [Theory]
    [InlineData(37, 45, 50)]    // edge tiles in both directions
    [InlineData(3, 70, 20)]     // few rows: the small-M path, activation afterwards
    [InlineData(300, 64, 600)]  // several row blocks and depth blocks: GELU only after the last depth block
    [InlineData(5, 7, 0)]       // no depth: GELU of the bias
    [InlineData(200, 1100, 300)] // a weight too wide to pack whole: packed in column chunks, the bias shifted with them
    public void TryAddmmGelu_MatchesTheDoubleReference(int m, int n, int k)
    {
        var g = new Generator((ulong)(m * 1000 + k));
        var bias = Tensor.Randn([n], generator: g);
        var a = Tensor.Randn([m, k], generator: g);
        var w = Tensor.Randn([n, k], generator: g);
        Tensor? fused;
        using (Autograd.Autograd.NoGrad()) Assert.True(Tensor.TryAddmmGelu(bias, a, w.T, out fused));
        Assert.Equal(new[] { m, n }, fused!.Shape);
        var (got, composed) = (fused.ToArray<float>(), Tensor.Addmm(bias, a, w.T).Gelu().ToArray<float>());
        var (B, A, W) = (bias.ToArray<float>(), a.ToArray<float>(), w.ToArray<float>());
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double x = B[j], size = Math.Abs(B[j]);
                for (int p = 0; p < k; p++)
                {
                    x += (double)A[i * k + p] * W[j * k + p];
                    size += Math.Abs((double)A[i * k + p] * W[j * k + p]);
                }
                double expected = x * 0.5 * MathNet.Numerics.SpecialFunctions.Erfc(-x / Math.Sqrt(2));
                // Float32 sums in any order stay within about sqrt(k) u of the sum of magnitudes (Higham 2002, 3.5;
                // 4 standard deviations), GELU's slope is below 1.13, and the vectorised GELU adds 1e-6 relative.
                double tolerance = 1e-6 * (1 + Math.Abs(expected)) + 1.13 * 4 * Math.Sqrt(k + 1) * Math.Pow(2, -24) * size;
                int at = i * n + j;
                Assert.True(Math.Abs(got[at] - expected) <= tolerance, $"[{i}, {j}]: fused {got[at]:R}, reference {expected:R}");
                Assert.True(Math.Abs(composed[at] - expected) <= tolerance, $"[{i}, {j}]: composed {composed[at]:R}, reference {expected:R}");
            }
    }

    [Fact]
    public void TryAddmmGelu_DeclinesWhileRecordingOrNotFloat32()
    {
        Assert.False(Tensor.TryAddmmGelu(Tensor.Zeros(3), Tensor.Ones(2, 4), Tensor.Ones(4, 3), out var y));
        Assert.Null(y);
        using var noGrad = Autograd.Autograd.NoGrad();
        var d = Tensor.Zeros([3], DType.Float64);
        Assert.False(Tensor.TryAddmmGelu(d, Tensor.Ones([2, 4], DType.Float64), Tensor.Ones([4, 3], DType.Float64), out _));
        var e = Assert.Throws<ArgumentException>(() => Tensor.TryAddmmGelu(Tensor.Zeros(3), Tensor.Ones(2, 4), Tensor.Ones(5, 3), out _));
        Assert.Contains("AddmmGelu", e.Message);
    }
}
