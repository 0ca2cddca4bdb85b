using Engine.Autograd.Testing;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static Engine.Autograd.Testing.TensorGen;

namespace Engine.Autograd.Tests;

/// <summary>
/// Laws over the edge-case generators (exact and signed zeros, ties, constant slices, empty dimensions, huge values):
/// forall such inputs, the gradient is PyTorch's subgradient, computed here by a naive loop over each slice.
/// Oracle values quoted from torch 1.13 come from /usr/bin/python3 with Debian's python3-torch.
/// </summary>
public class SubgradientPropertyTests
{
    static Gen<int[]> RowsShape(int minLength = 1) =>
        Gen.Choose(1, 4).SelectMany(rows => Gen.Choose(minLength, 5).Select(length => new[] { rows, length }));

    static Gen<(Tensor Value, SliceKind[] Kinds)> Slices(SliceKind[] kinds, int minLength = 1, double maxConstant = double.MaxValue) =>
        RowsShape(minLength).SelectMany(s => EdgeSlices(s, kinds, maxConstant));

    static double[][] Rows(Tensor x)
    {
        int length = x.Size(-1);
        return x.ToDoubleArray().Chunk(length).ToArray();
    }

    static double[] GradOf(Tensor x, Func<Tensor, Tensor> f)
    {
        var leaf = x.Detach().RequireGrad();
        f(leaf).Sum().Backward();
        return leaf.Grad!.ToDoubleArray();
    }

    // Same values, treating equal infinities as equal and asking exact equality where the reference is exactly 0.
    static void Agree(double[] expected, double[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            bool ok = expected[i] == actual[i]
                || (double.IsFinite(expected[i]) && expected[i] != 0 && Math.Abs(expected[i] - actual[i]) <= tolerance * Math.Abs(expected[i]));
            Assert.True(ok, $"{what}[{i}]: expected {expected[i]:G17}, got {actual[i]:G17}");
        }
    }

    [Fact]
    public void Norm2_OfEachSlice_GradientIsXOverNorm_AndZeroForAllZeroSlices()
    {
        var kinds = new[] { SliceKind.Random, SliceKind.AllZero, SliceKind.OneZero, SliceKind.TwoZeros, SliceKind.Constant };
        GradProperty.ForAll(Slices(kinds, maxConstant: 1e3), c =>
        {
            var expected = Rows(c.Value).SelectMany(row =>
            {
                double norm = Math.Sqrt(row.Sum(v => v * v));
                return row.Select(v => norm == 0 ? 0 : v / norm);
            }).ToArray();
            Agree(expected, GradOf(c.Value, x => x.Norm(2, [1])), 1e-12, "d norm");
        }, maxTest: 60);
    }

    [Fact]
    public void Prod_OfEachSlice_GradientIsTheProductOfTheOthers_WithZerosAndTies()
    {
        var kinds = new[] { SliceKind.Random, SliceKind.AllZero, SliceKind.OneZero, SliceKind.TwoZeros, SliceKind.Ties, SliceKind.Constant };
        GradProperty.ForAll(Slices(kinds, maxConstant: 10), c =>
        {
            var expected = Rows(c.Value).SelectMany(row =>
                row.Select((_, i) => row.Where((_, j) => j != i).Aggregate(1.0, (p, v) => p * v))).ToArray();
            Agree(expected, GradOf(c.Value, x => x.Prod(1)), 1e-12, "d prod");
        }, maxTest: 60);
    }

    [Fact]
    public void PowZero_HasGradientZero_EvenAtSignedZeros()
    {
        // torch 1.13: torch.tensor([0.0, -0.0], requires_grad=True).pow(0).sum().backward() gives grad [0.0, 0.0].
        GradProperty.ForAll(Shape(0, 3).SelectMany(SignedZeros), x =>
        {
            var leaf = x.RequireGrad();
            var y = leaf.Pow(0);
            Assert.All(y.ToDoubleArray(), v => Assert.Equal(1.0, v));
            y.Sum().Backward();
            Assert.All(leaf.Grad!.ToDoubleArray(), g => Assert.Equal(0.0, g));
        });
    }

    // A base of +0, -0 or a positive number with an exponent that PyTorch and IEEE pow agree on: integers for any base,
    // and ±0.5 for positive bases (torch computes x^±0.5 as sqrt/rsqrt, which keeps the sign of -0).
    static readonly Gen<(double Base, double Exponent)> PowPoint =
        Gen.Elements(0.0, -0.0, 0.5, 2.0).SelectMany(b =>
            (double.IsNegative(b) ? Gen.Elements(-2.0, -1.0, 0.0, 1.0, 2.0, 3.0) : Gen.Elements(-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0))
            .Select(e => (b, e)));

    [Fact]
    public void Pow_BothGradients_AtZeroBases_AreTorchsSubgradients()
    {
        // pow_backward_self: 0 where the exponent is 0, else e * x^(e-1); pow_backward_exponent: 0 where x == 0 and
        // e >= 0, else x^e * ln x (so 0^-1 gives inf * -inf = -inf, (-0)^-1 gives -inf * -inf = +inf).
        GradProperty.ForAll(Gen.ArrayOf(PowPoint, 6), points =>
        {
            var b = Tensor.FromArray(points.Select(p => p.Base).ToArray()).RequireGrad();
            var e = Tensor.FromArray(points.Select(p => p.Exponent).ToArray()).RequireGrad();
            b.Pow(e).Sum().Backward();
            var dBase = points.Select(p => p.Exponent == 0 ? 0 : p.Exponent * Math.Pow(p.Base, p.Exponent - 1)).ToArray();
            var dExponent = points.Select(p => p.Base == 0 && p.Exponent >= 0 ? 0 : Math.Pow(p.Base, p.Exponent) * Math.Log(p.Base)).ToArray();
            Agree(dBase, b.Grad!.ToDoubleArray(), 1e-12, "d base");
            Agree(dExponent, e.Grad!.ToDoubleArray(), 1e-12, "d exponent");
        }, maxTest: 60);
    }

    [Fact]
    public void Pow_ExponentGradient_OfZeroToTheMinusOne_IsTorchs()
    {
        // /usr/bin/python3: x = torch.tensor([0.0, -0.0], requires_grad=True); e = torch.tensor([-1.0, -1.0],
        // requires_grad=True); (x ** e).sum().backward() gives x.grad [-inf, -inf] and e.grad [-inf, inf].
        var x = Tensor.FromArray(new[] { 0.0, -0.0 }).RequireGrad();
        var e = Tensor.FromArray(new[] { -1.0, -1.0 }).RequireGrad();
        x.Pow(e).Sum().Backward();
        Assert.Equal([double.NegativeInfinity, double.NegativeInfinity], x.Grad!.ToDoubleArray());
        Assert.Equal([double.NegativeInfinity, double.PositiveInfinity], e.Grad!.ToDoubleArray());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void StdAndVar_OfConstantSlices_AreExactlyZero_WithGradientExactlyZero(bool unbiased)
    {
        var kinds = new[] { SliceKind.Constant, SliceKind.AllZero, SliceKind.Random, SliceKind.Ties };
        int ddof = unbiased ? 1 : 0;
        GradProperty.ForAll(Slices(kinds, minLength: 2), c =>
        {
            var rows = Rows(c.Value);
            // Naive two-pass variance per slice; a slice of one repeated value is 0 by definition.
            var variance = rows.Select(r => r.Distinct().Count() == 1 ? 0 : r.Sum(v => (v - r.Average()) * (v - r.Average())) / (r.Length - ddof)).ToArray();
            var dVar = rows.SelectMany((r, i) => r.Select(v => variance[i] == 0 ? 0 : 2 * (v - r.Average()) / (r.Length - ddof))).ToArray();
            var dStd = rows.SelectMany((r, i) => r.Select(v => variance[i] == 0 ? 0 : (v - r.Average()) / ((r.Length - ddof) * Math.Sqrt(variance[i])))).ToArray();
            Agree(variance, c.Value.Var(1, unbiased).ToDoubleArray(), 1e-10, "var");
            Agree(variance.Select(Math.Sqrt).ToArray(), c.Value.Std(1, unbiased).ToDoubleArray(), 1e-10, "std");
            Agree(dVar, GradOf(c.Value, x => x.Var(1, unbiased)), 1e-9, "d var");
            Agree(dStd, GradOf(c.Value, x => x.Std(1, unbiased)), 1e-9, "d std");
        }, maxTest: 60);
    }

    // torch.max(dim) on CPU selects the first of tied maxima (torch 1.13: [[1,3,3,2],[5,5,5,5]].max(1) gives indices
    // [1, 0]) and its gradient goes wholly to that index; +0 and -0 tie ([0.0, -0.0].max(0) gives index 0).
    static int FirstSelected(double[] row, bool max)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++)
            if (max ? row[i] > row[best] : row[i] < row[best]) best = i;
        return best;
    }

    public static TheoryData<bool, DType, bool> MaxMinCases()
    {
        var data = new TheoryData<bool, DType, bool>();
        foreach (var max in new[] { true, false })
            foreach (var dtype in new[] { DType.Float64, DType.Float32 })
                foreach (var transposed in new[] { false, true })
                    data.Add(max, dtype, transposed);
        return data;
    }

    [Theory]
    [MemberData(nameof(MaxMinCases))]
    public void MaxMinAlongADimension_WithTies_SelectTheFirst_AndSendItTheWholeGradient(bool max, DType dtype, bool transposed)
    {
        var kinds = new[] { SliceKind.Ties, SliceKind.Constant, SliceKind.AllZero, SliceKind.TwoZeros, SliceKind.Random };
        GradProperty.ForAll(Slices(kinds), c =>
        {
            var x = c.Value.To(dtype);
            var rows = Rows(x);
            var expectedIndex = rows.Select(r => (long)FirstSelected(r, max)).ToArray();
            var expectedGrad = rows.SelectMany((r, i) => r.Select((_, j) => j == expectedIndex[i] ? 1.0 : 0.0)).ToArray();
            // Along dim 1 of the rows, or along dim 0 of a transposed (strided) view of them.
            var leaf = x.Detach().RequireGrad();
            var input = transposed ? leaf.Transpose(0, 1) : leaf;
            int dim = transposed ? 0 : 1;
            var (values, indices) = max ? input.Max(dim) : input.Min(dim);
            Assert.Equal(expectedIndex, indices.ToArray<long>());
            Assert.Equal(rows.Select((r, i) => r[expectedIndex[i]]).ToArray(), values.ToDoubleArray());
            values.Sum().Backward();
            Assert.Equal(expectedGrad, leaf.Grad!.ToDoubleArray());
        }, maxTest: 40);
    }

    [Fact]
    public void MaxAlongADimension_OfHugeValuesWithTiesAtFloatMax_SelectsTheFirst()
    {
        // torch 1.13: torch.tensor([3.4e38, 3.4e38, 1.0], dtype=torch.float32).max(0) selects index 0, grad [1, 0, 0].
        GradProperty.ForAll(Gen.Choose(1, 6).SelectMany(n => Huge([2, n])), h =>
        {
            var x = h.To(DType.Float32);
            var rows = Rows(x);
            var expectedIndex = rows.Select(r => (long)FirstSelected(r, true)).ToArray();
            var leaf = x.Detach().RequireGrad();
            var (values, indices) = leaf.Max(1);
            Assert.Equal(expectedIndex, indices.ToArray<long>());
            values.Sum().Backward();
            Assert.Equal(rows.SelectMany((r, i) => r.Select((_, j) => j == expectedIndex[i] ? 1.0 : 0.0)).ToArray(), leaf.Grad!.ToDoubleArray());
        });
    }

    [Fact]
    public void SumMeanAndMax_OverEmptyDimensions_BackwardWithoutCrashing_AsTorch()
    {
        // torch 1.13 on torch.zeros(0, 3): sum() is 0, mean() is nan, mean(0) is [nan, nan, nan], max(1) gives empty
        // values and indices, and max(0) raises "Expected reduction dim 0 to have non-zero size".
        GradProperty.ForAll(EmptyShape(), shape =>
        {
            var x = Tensor.Zeros(shape, DType.Float64).RequireGrad();
            var sum = x.Sum();
            Assert.Equal(0.0, sum.Item());
            var mean = x.Mean();
            Assert.True(double.IsNaN(mean.Item()));
            (sum + mean).Backward();
            Assert.Equal(shape, x.Grad!.Shape);
            for (int d = 0; d < shape.Length; d++)
            {
                var leaf = Tensor.Zeros(shape, DType.Float64).RequireGrad();
                var meanAlong = leaf.Mean(d);
                if (shape[d] == 0) Assert.All(meanAlong.ToDoubleArray(), v => Assert.True(double.IsNaN(v)));
                meanAlong.Sum().Backward();
                Assert.Equal(shape, leaf.Grad!.Shape);
                if (shape[d] == 0)
                {
                    var e = Assert.Throws<ArgumentException>(() => leaf.Max(d));
                    Assert.StartsWith("Max: cannot reduce dimension", e.Message);
                    Assert.StartsWith("Min: cannot reduce dimension", Assert.Throws<ArgumentException>(() => leaf.Min(d)).Message);
                    Assert.StartsWith("Max: cannot reduce dimension", Assert.Throws<ArgumentException>(() => leaf.Amax([d])).Message);
                }
                else
                {
                    var (values, indices) = leaf.Max(d);
                    Assert.Equal(0, values.Numel);
                    Assert.Equal(0, indices.Numel);
                    values.Sum().Backward();
                    Assert.Equal(shape, leaf.Grad!.Shape);
                }
            }
        });
    }

    [Fact]
    public void Generators_ProduceTheEdgeCasesTheyPromise()
    {
        // The generators are only useful if they really hit the edges: check each kind's defining property.
        GradProperty.ForAll(Slices(Enum.GetValues<SliceKind>(), minLength: 4), c =>
        {
            var rows = Rows(c.Value);
            for (int i = 0; i < rows.Length; i++)
            {
                var r = rows[i];
                switch (c.Kinds[i])
                {
                    case SliceKind.Random: Assert.DoesNotContain(0.0, r); break;
                    case SliceKind.AllZero: Assert.All(r, v => Assert.Equal(0.0, v)); break;
                    case SliceKind.Constant: Assert.Single(r.Distinct()); break;
                    case SliceKind.OneZero: Assert.Equal(1, r.Count(v => v == 0)); break;
                    case SliceKind.TwoZeros: Assert.Equal(2, r.Count(v => v == 0)); break;
                    case SliceKind.Ties:
                        Assert.True(r.Count(v => v == r.Max()) >= 2 && r.Count(v => v == r.Min()) >= 2, string.Join(", ", r));
                        break;
                }
            }
        }, maxTest: 100);
        GradProperty.ForAll(EmptyShape(), s => Assert.Contains(0, s));
        GradProperty.ForAll(Huge([8]), h => Assert.All(h.ToDoubleArray(), v => Assert.True(Math.Abs(v) >= 1e30 && Math.Abs(v) <= float.MaxValue && float.IsFinite((float)v))));
        var signs = Enumerable.Range(0, 20).SelectMany(_ => SignedZeros([16]).Sample(1, 1).Single().ToDoubleArray()).ToArray();
        Assert.Contains(signs, v => v == 0 && double.IsNegative(v));
        Assert.Contains(signs, v => v == 0 && !double.IsNegative(v));
    }
}
