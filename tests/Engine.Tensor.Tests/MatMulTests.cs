using Xunit;

namespace Engine.Tests;

public class MatMulTests
{
    /// <summary>PyTorch's matmul cases: 1-D·1-D, 1-D·2-D, 2-D·1-D, 2-D·2-D, N-D with 1-D, and broadcast batches; K = 0 too.</summary>
    public static readonly (int[] A, int[] B)[] Cases =
    [
        ([4], [4]), ([3], [3, 5]), ([4, 3], [3]), ([4, 3], [3, 5]), ([1, 1], [1, 1]), ([2, 4, 3], [3]), ([3], [2, 3, 5]),
        ([2, 4, 3], [3, 5]), ([4, 3], [2, 3, 5]), ([2, 1, 4, 3], [3, 3, 5]), ([1, 4, 3], [2, 3, 5]), ([4, 0], [0, 5]),
        ([0, 3], [3, 5]), ([4, 3], [3, 0]), ([0], [0]), ([2, 0, 4, 3], [3, 2]),
    ];

    static void CheckMatMul(Sample a, Sample b, Tensor y, string what)
    {
        int k = a.R.Shape[^1];
        var expected = Ref.MatMul(a.R, b.R);
        double maxA = a.R.Data.Select(Math.Abs).DefaultIfEmpty(0).Max(), maxB = b.R.Data.Select(Math.Abs).DefaultIfEmpty(0).Max();
        Check.Scaled(expected, new Ref(expected.Shape, expected.Data.Select(_ => k * maxA * maxB).ToArray()), y, what);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void MatMul_AllPyTorchRankCases_MatchReference(DType dtype)
    {
        var rng = new System.Random(1);
        foreach (var (sa, sb) in Cases)
            foreach (var la in Samples.Layouts)
                foreach (var lb in Samples.Layouts)
                {
                    var a = Samples.Make(rng, sa, dtype, la);
                    var b = Samples.Make(rng, sb, dtype, lb);
                    var y = a.T.MatMul(b.T);
                    Assert.Equal(dtype, y.DType);
                    CheckMatMul(a, b, y, $"{dtype} {Samples.Show(sa)} {la} @ {Samples.Show(sb)} {lb}");
                }
    }

    [Theory]
    [InlineData(DType.Int32)]
    [InlineData(DType.Int64)]
    public void MatMul_OnIntegers_IsExact(DType dtype)
    {
        var rng = new System.Random(2);
        foreach (var (sa, sb) in Cases)
        {
            var a = Samples.Make(rng, sa, dtype, Layout.Transposed);
            var b = Samples.Make(rng, sb, dtype, Layout.Stepped);
            var y = a.T % b.T;
            Assert.Equal(dtype, y.DType);
            Check.Exact(Ref.MatMul(a.R, b.R), y, $"{Samples.Show(sa)} @ {Samples.Show(sb)}");
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void MatMul_LargeAndOddSizes_MatchReference(DType dtype)
    {
        var rng = new System.Random(3);
        foreach (var (sa, sb) in new (int[], int[])[] { ([67, 129], [129, 45]), ([1, 300], [300, 257]), ([2, 33, 70], [70, 17]), ([190, 3], [3, 190]) })
            foreach (var layout in new[] { Layout.Contiguous, Layout.Transposed })
            {
                var a = Samples.Make(rng, sa, dtype, layout);
                var b = Samples.Make(rng, sb, dtype, layout);
                CheckMatMul(a, b, a.T.MatMul(b.T), $"{dtype} {Samples.Show(sa)} @ {Samples.Show(sb)} {layout}");
            }
    }

    [Fact]
    public void MatMul_PromotesMixedDtypes()
    {
        var a = Tensor.FromArray(new long[,] { { 1, 2 }, { 3, 4 } });
        var b = Tensor.FromArray(new double[,] { { 0.5 }, { 0.25 } });
        var y = a.MatMul(b);
        Assert.Equal(DType.Float64, y.DType);
        Check.Exact(new Ref([2, 1], [1, 2.5]), y);
    }

    [Fact]
    public void BmmDotOuter_MatchReference()
    {
        var rng = new System.Random(4);
        var a = Samples.Make(rng, [3, 4, 5], DType.Float64, Layout.Transposed);
        var b = Samples.Make(rng, [3, 5, 2], DType.Float64, Layout.Stepped);
        CheckMatMul(a, b, a.T.Bmm(b.T), "Bmm");
        var u = Samples.Make(rng, [6], DType.Float64, Layout.Stepped);
        var v = Samples.Make(rng, [6], DType.Float64, Layout.Expanded);
        var dot = u.T.Dot(v.T);
        Assert.Equal(0, dot.Rank);
        CheckMatMul(u, v, dot, "Dot");
        var w = Samples.Make(rng, [4], DType.Float64);
        Check.Exact(Ref.Build([6, 4], idx => u.R[idx[0]] * w.R[idx[1]]), u.T.Outer(w.T));
    }
}
