using Xunit;

namespace Engine.Tests;

public class ReductionTests
{
    /// <summary>Every single axis (positive and negative), every pair, and all axes (null).</summary>
    public static IEnumerable<int[]?> AxisSets(int rank)
    {
        yield return null;
        for (int a = 0; a < rank; a++)
        {
            yield return [a];
            yield return [a - rank];
            for (int b = a + 1; b < rank; b++) yield return [a, b];
        }
        if (rank >= 3) yield return [0, rank - 1, 1];
    }

    static string Show(int[]? axes) => axes is null ? "all" : Samples.Show(axes);

    static readonly int[][] ReduceShapes = [[5], [3, 4], [1, 7], [4, 1], [2, 3, 4], [3, 1, 5], [2, 3, 2, 3]];
    static readonly int[][] EmptyShapes = [[0], [0, 3], [2, 0, 3]];

    static IEnumerable<(Sample X, int[]? Axes, bool KeepDim, string What)> Cases(System.Random rng, DType dtype, int[][] shapes, double lo = -2, double hi = 2)
    {
        foreach (var shape in shapes)
            foreach (var layout in Samples.Layouts)
            {
                var x = Samples.Make(rng, shape, dtype, layout, lo, hi);
                foreach (var axes in AxisSets(shape.Length))
                    foreach (var keep in new[] { false, true })
                        yield return (x, axes, keep, $"{dtype} {Samples.Show(shape)} {layout} axes {Show(axes)} keepDim {keep}");
            }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Sum_OverAnyAxes_MatchesReference(DType dtype)
    {
        foreach (var (x, axes, keep, what) in Cases(new System.Random(1), dtype, [.. ReduceShapes, .. EmptyShapes]))
        {
            var scale = x.R.Map(Math.Abs).Reduce(axes, keep, Ref.SumOf);
            Check.Scaled(x.R.Reduce(axes, keep, Ref.SumOf), scale, x.T.Sum(axes, keep), what);
        }
    }

    [Theory]
    [InlineData(DType.Int32)]
    [InlineData(DType.Int64)]
    [InlineData(DType.Bool)]
    public void Sum_OfIntegersAndBools_IsExactInt64(DType dtype)
    {
        foreach (var (x, axes, keep, what) in Cases(new System.Random(2), dtype, [.. ReduceShapes, .. EmptyShapes]))
        {
            var y = x.T.Sum(axes, keep);
            Assert.Equal(DType.Int64, y.DType);
            Check.Exact(x.R.Reduce(axes, keep, Ref.SumOf), y, what);
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    [InlineData(DType.Int64)]
    public void Prod_OverAnyAxes_MatchesReference(DType dtype)
    {
        var (lo, hi) = dtype.IsFloating() ? (0.5, 1.5) : (-0.4, 0.4);
        foreach (var (x, axes, keep, what) in Cases(new System.Random(3), dtype, [.. ReduceShapes, .. EmptyShapes], lo, hi))
        {
            var expected = x.R.Reduce(axes, keep, Ref.ProdOf);
            Check.Scaled(expected, expected.Map(v => 30 * Math.Abs(v)), x.T.Prod(axes, keep), what);
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    [InlineData(DType.Int32)]
    public void Mean_OverAnyAxes_MatchesReference(DType dtype)
    {
        foreach (var (x, axes, keep, what) in Cases(new System.Random(4), dtype, [.. ReduceShapes, .. EmptyShapes]))
        {
            var y = x.T.Mean(axes, keep);
            Assert.Equal(dtype.ToFloating(), y.DType);
            var scale = x.R.Map(Math.Abs).Reduce(axes, keep, Ref.MeanOf);
            Check.Scaled(x.R.Reduce(axes, keep, Ref.MeanOf), scale, y, what);
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    [InlineData(DType.Int32)]
    [InlineData(DType.Bool)]
    public void AmaxAmin_OverAnyAxes_AreExact(DType dtype)
    {
        foreach (var (x, axes, keep, what) in Cases(new System.Random(5), dtype, ReduceShapes))
        {
            Check.Exact(x.R.Reduce(axes, keep, Ref.MaxOf), x.T.Amax(axes, keep), "Amax " + what);
            Check.Exact(x.R.Reduce(axes, keep, Ref.MinOf), x.T.Amin(axes, keep), "Amin " + what);
            Assert.Equal(dtype, x.T.Amax(axes, keep).DType);
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void VarStd_BiasedAndUnbiased_MatchTwoPassReference(DType dtype)
    {
        foreach (var (x, axes, keep, what) in Cases(new System.Random(6), dtype, ReduceShapes))
            foreach (var unbiased in new[] { true, false })
            {
                var v = x.R.Reduce(axes, keep, g => Ref.VarOf(g, unbiased));
                var scale = x.R.Map(a => a * a).Reduce(axes, keep, g => 4 * Ref.MeanOf(g));
                Check.Scaled(v, scale, x.T.Var(axes, unbiased, keep), $"Var unbiased {unbiased} {what}", 10);
                Check.Scaled(v.Map(Math.Sqrt), scale.Map(Math.Sqrt), x.T.Std(axes, unbiased, keep), $"Std unbiased {unbiased} {what}", 10);
            }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void LogSumExp_OverAnyAxes_MatchesReference(DType dtype)
    {
        foreach (var (x, axes, keep, what) in Cases(new System.Random(7), dtype, ReduceShapes))
            Check.Close(x.R.Reduce(axes, keep, Ref.LogSumExpOf), x.T.LogSumExp(axes, keep), what, transcendental: true);
    }

    [Fact]
    public void LogSumExp_IsStableForLargeAndInfiniteInputs()
    {
        var x = Tensor.FromArray(new double[,] { { 1000, 1000 }, { double.NegativeInfinity, double.NegativeInfinity }, { -1000, double.NegativeInfinity } });
        var r = new Ref([3, 2], [1000, 1000, double.NegativeInfinity, double.NegativeInfinity, -1000, double.NegativeInfinity]);
        Check.Close(r.Reduce([1], false, Ref.LogSumExpOf), x.LogSumExp(1), transcendental: true);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    [InlineData(DType.Int64)]
    public void Norm_P1P2Inf_MatchReference(DType dtype)
    {
        foreach (var (x, axes, keep, what) in Cases(new System.Random(8), dtype, ReduceShapes))
        {
            var scale = x.R.Map(Math.Abs).Reduce(axes, keep, Ref.SumOf);
            var rtolScale = dtype == DType.Int64 ? 1e-5 : Check.Rtol(dtype);
            Check.Close(x.R.Map(Math.Abs).Reduce(axes, keep, Ref.SumOf), x.T.Norm(1, axes, keep), rtolScale, 1e-12, "p=1 " + what);
            Check.Close(x.R.Map(a => a * a).Reduce(axes, keep, g => Math.Sqrt(Ref.SumOf(g))), x.T.Norm(2, axes, keep), rtolScale * 10, 1e-12, "p=2 " + what);
            Check.Exact(x.R.Map(Math.Abs).Reduce(axes, keep, Ref.MaxOf), x.T.Norm(double.PositiveInfinity, axes, keep), "p=inf " + what);
            _ = scale;
        }
    }

    // torch 1.13: torch.tensor([-0.0, 0.0]).argmax() and .argmin() are both 0, and so for [0.0, -0.0]: signed zeros
    // tie, and the first wins (TensorPrimitives.IndexOfMax alone would order -0 below +0).
    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void ArgMaxArgMin_TreatSignedZerosAsTied_AndSelectTheFirst(DType dtype)
    {
        var x = Tensor.FromArray(new[] { -1.0, -0.0, 0.0, -0.0, -2.0, 0.0, 0.0, -0.0, 3.0, 1.0, 0.0, -0.0 }, [3, 4]).To(dtype);
        Assert.Equal([1L, 1L, 0L], x.ArgMax(1).ToArray<long>());
        Assert.Equal([0L, 0L, 2L], x.ArgMin(1).ToArray<long>());
        var (values, indices) = (-x.Abs()).Max(1);
        Assert.Equal([1L, 1L, 2L], indices.ToArray<long>());
        Assert.All(values.ToDoubleArray(), v => Assert.Equal(0.0, v));
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    [InlineData(DType.Int32)]
    [InlineData(DType.Int64)]
    public void ArgMaxArgMin_GiveFirstExtremeIndex(DType dtype)
    {
        var rng = new System.Random(9);
        foreach (var shape in ReduceShapes)
            foreach (var layout in Samples.Layouts)
            {
                var x = Samples.Make(rng, shape, dtype, layout);
                var flat = x.R.Reshape(x.R.Numel);
                Check.Exact(flat.Reduce(null, false, Ref.ArgMaxOf), x.T.ArgMax(), $"ArgMax flat {Samples.Show(shape)} {layout}");
                Check.Exact(flat.Reduce(null, false, Ref.ArgMinOf), x.T.ArgMin(), $"ArgMin flat {Samples.Show(shape)} {layout}");
                for (int d = -shape.Length; d < shape.Length; d++)
                    foreach (var keep in new[] { false, true })
                    {
                        var what = $"{Samples.Show(shape)} {layout} dim {d} keepDim {keep}";
                        var am = x.T.ArgMax(d, keep);
                        Assert.Equal(DType.Int64, am.DType);
                        Check.Exact(x.R.Reduce([d], keep, Ref.ArgMaxOf), am, "ArgMax " + what);
                        Check.Exact(x.R.Reduce([d], keep, Ref.ArgMinOf), x.T.ArgMin(d, keep), "ArgMin " + what);
                        var (values, indices) = x.T.Max(d, keep);
                        Check.Exact(x.R.Reduce([d], keep, Ref.MaxOf), values, "Max values " + what);
                        Check.Exact(x.R.Reduce([d], keep, Ref.ArgMaxOf), indices, "Max indices " + what);
                        var (minValues, minIndices) = x.T.Min(d, keep);
                        Check.Exact(x.R.Reduce([d], keep, Ref.MinOf), minValues, "Min values " + what);
                        Check.Exact(x.R.Reduce([d], keep, Ref.ArgMinOf), minIndices, "Min indices " + what);
                    }
            }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    [InlineData(DType.Int32)]
    [InlineData(DType.Bool)]
    public void Cumsum_AlongEveryDimension_MatchesReference(DType dtype)
    {
        var rng = new System.Random(10);
        foreach (var shape in ReduceShapes.Concat(EmptyShapes))
            foreach (var layout in Samples.Layouts)
            {
                var x = Samples.Make(rng, shape, dtype, layout);
                for (int d = -shape.Length; d < shape.Length; d++)
                {
                    var y = x.T.Cumsum(d);
                    Assert.Equal(dtype.IsFloating() ? dtype : DType.Int64, y.DType);
                    var expected = x.R.Cumsum(d);
                    Check.Scaled(expected, x.R.Map(Math.Abs).Cumsum(d), y, $"{Samples.Show(shape)} {layout} dim {d}");
                }
            }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void SoftmaxAndLogSoftmax_AlongEveryDimension_MatchReference(DType dtype)
    {
        var rng = new System.Random(11);
        foreach (var shape in ReduceShapes.Concat(EmptyShapes))
            foreach (var layout in Samples.Layouts)
            {
                var x = Samples.Make(rng, shape, dtype, layout, -5, 5);
                for (int d = -shape.Length; d < shape.Length; d++)
                {
                    var what = $"{Samples.Show(shape)} {layout} dim {d}";
                    Check.Close(x.R.Softmax(d), x.T.Softmax(d), "Softmax " + what, transcendental: true);
                    Check.Close(x.R.LogSoftmax(d), x.T.LogSoftmax(d), "LogSoftmax " + what, transcendental: true);
                }
            }
    }

    [Fact]
    public void Softmax_OfMaskedRow_GivesZeroWhereMinusInfinity()
    {
        var x = Tensor.FromArray(new float[,] { { 1, float.NegativeInfinity, 2 }, { 1000, 1000, float.NegativeInfinity } });
        var r = new Ref([2, 3], [1, double.NegativeInfinity, 2, 1000, 1000, double.NegativeInfinity]);
        Check.Close(r.Softmax(1), x.Softmax(1), transcendental: true);
        Check.Close(r.LogSoftmax(1), x.LogSoftmax(1), transcendental: true);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Reductions_OnLargeInputs_TakeParallelAndBlockedPaths(DType dtype)
    {
        var rng = new System.Random(12);
        // [70000] is a single row longer than the reduce block; [150,260] reduced over 0 takes the leading-axes path.
        foreach (var shape in new[] { new[] { 70000 }, Samples.Large, new[] { 2, 40000 } })
            foreach (var layout in new[] { Layout.Contiguous, Layout.Transposed })
            {
                var x = Samples.Make(rng, shape, dtype, layout);
                foreach (var axes in AxisSets(shape.Length))
                {
                    var what = $"{Samples.Show(shape)} {layout} axes {Show(axes)}";
                    var scale = x.R.Map(Math.Abs).Reduce(axes, false, Ref.SumOf);
                    Check.Scaled(x.R.Reduce(axes, false, Ref.SumOf), scale, x.T.Sum(axes), "Sum " + what);
                    Check.Exact(x.R.Reduce(axes, false, Ref.MaxOf), x.T.Amax(axes), "Amax " + what);
                    Check.Exact(x.R.Reduce(axes, false, Ref.MinOf), x.T.Amin(axes), "Amin " + what);
                }
                int last = shape.Length - 1;
                Check.Close(x.R.Softmax(last), x.T.Softmax(last), "Softmax " + layout, transcendental: true);
                Check.Scaled(x.R.Cumsum(0), x.R.Map(Math.Abs).Cumsum(0), x.T.Cumsum(0), "Cumsum " + layout);
                Check.Exact(x.R.Reduce([last], false, Ref.ArgMaxOf), x.T.ArgMax(last), "ArgMax " + layout);
            }
    }

    [Fact]
    public void Reductions_OfScalar_OverDimensionZero_ReturnTheValue()
    {
        // PyTorch accepts dim 0 and -1 for a 0-d tensor and reduces over nothing.
        var x = Tensor.Scalar(3.5, DType.Float64);
        foreach (var dim in new[] { 0, -1 })
        {
            Check.Exact(Ref.Scalar(3.5), x.Sum(dim), $"Sum dim {dim}");
            Check.Exact(Ref.Scalar(3.5), x.Mean(dim), $"Mean dim {dim}");
            Check.Exact(Ref.Scalar(3.5), x.Prod(dim), $"Prod dim {dim}");
            Check.Exact(Ref.Scalar(3.5), x.Amax([dim]), $"Amax dim {dim}");
            Check.Exact(new Ref([1], [3.5]), x.Sum(dim, keepDim: true).Reshape(1), $"Sum keepDim dim {dim}");
            Check.Exact(Ref.Scalar(0), x.ArgMax(dim), $"ArgMax dim {dim}");
            Check.Exact(Ref.Scalar(1), x.Softmax(dim), $"Softmax dim {dim}");
        }
        Check.Exact(Ref.Scalar(3.5), x.Sum());
        Check.Exact(Ref.Scalar(3.5), x.Cumsum(0));
    }

    [Fact]
    public void Sum_OverEmptyDimension_IsZeroAndMeanIsNaN()
    {
        var x = Tensor.Zeros([2, 0], DType.Float32);
        Check.Exact(new Ref([2], [0, 0]), x.Sum(1));
        Check.Exact(new Ref([2], [double.NaN, double.NaN]), x.Mean(1));
        Check.Exact(new Ref([2], [1, 1]), x.Prod(1));
    }
}
