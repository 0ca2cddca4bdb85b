using FsCheck.Xunit;

namespace Engine.Tests;

/// <summary>Algebraic laws checked with FsCheck over random seeds; each seed picks shapes, layouts and values.</summary>
public class PropertyTests
{
    static int[] RandomShape(System.Random rng, int minRank = 0, int maxRank = 4)
    {
        int rank = rng.Next(minRank, maxRank + 1);
        return Enumerable.Range(0, rank).Select(_ => rng.Next(0, 10) == 0 ? 0 : rng.Next(1, 5)).ToArray();
    }

    static Sample Any(System.Random rng, int[] shape, DType dtype = DType.Float64)
        => Samples.Make(rng, shape, dtype, Samples.Layouts[rng.Next(Samples.Layouts.Length)]);

    static bool Same(Tensor a, Tensor b)
    {
        Xunit.Assert.True(a.Shape.SequenceEqual(b.Shape), $"shapes {Samples.Show(a.Shape)} and {Samples.Show(b.Shape)} differ");
        Xunit.Assert.Equal(a.ToDoubleArray(), b.ToDoubleArray());
        return true;
    }

    static int[] RandomPermutation(System.Random rng, int n) => Enumerable.Range(0, n).OrderBy(_ => rng.Next()).ToArray();

    [Property(MaxTest = 60)]
    public bool TransposeTwice_IsIdentity(int seed)
    {
        var rng = new System.Random(seed);
        var x = Any(rng, RandomShape(rng, 2)).T;
        int a = rng.Next(x.Rank), b = rng.Next(x.Rank);
        return Same(x, x.Transpose(a, b).Transpose(a, b));
    }

    [Property(MaxTest = 60)]
    public bool PermuteThenInversePermute_IsIdentity(int seed)
    {
        var rng = new System.Random(seed);
        var x = Any(rng, RandomShape(rng, 1)).T;
        var p = RandomPermutation(rng, x.Rank);
        var inverse = new int[p.Length];
        for (int i = 0; i < p.Length; i++) inverse[p[i]] = i;
        return Same(x, x.Permute(p).Permute(inverse)) && x.Permute(p).Permute(inverse).Strides.SequenceEqual(x.Strides);
    }

    [Property(MaxTest = 60)]
    public bool Broadcasting_CommutesWithExpand(int seed)
    {
        var rng = new System.Random(seed);
        var s = RandomShape(rng, 1, 4);
        var sa = s.Select(d => rng.Next(3) == 0 ? 1 : d).Skip(rng.Next(2)).ToArray();
        var sb = s.Select(d => rng.Next(3) == 0 ? 1 : d).ToArray();
        var a = Any(rng, sa).T;
        var b = Any(rng, sb).T;
        var shape = Ref.BroadcastShape(sa, sb)!;
        return Same(a + b, a.Expand(shape) + b.Expand(shape)) && Same(a * b, a.Expand(shape) * b.Expand(shape));
    }

    [Property(MaxTest = 60)]
    public bool SumOverAllAxes_EqualsNestedPerAxisSums(int seed)
    {
        var rng = new System.Random(seed);
        // Integer values make every summation order exact.
        var x = Any(rng, RandomShape(rng, 1), DType.Int64).T.To(DType.Float64);
        var nested = x;
        while (nested.Rank > 0) nested = nested.Sum(rng.Next(nested.Rank));
        return nested.Item() == x.Sum().Item() && x.Sum().Item() == x.Sum(Enumerable.Range(0, x.Rank).ToArray()).Item();
    }

    [Property(MaxTest = 60)]
    public bool Reshape_RoundTrips(int seed)
    {
        var rng = new System.Random(seed);
        var x = Any(rng, RandomShape(rng, 1)).T;
        var flat = x.Reshape(-1);
        return Same(x, flat.Reshape(x.Shape)) && flat.ToDoubleArray().SequenceEqual(x.ToDoubleArray());
    }

    [Property(MaxTest = 60)]
    public bool Contiguous_OfAnyView_HasTheViewsValues(int seed)
    {
        var rng = new System.Random(seed);
        var x = Any(rng, RandomShape(rng, 2)).T;
        var view = x.Permute(RandomPermutation(rng, x.Rank));
        int d = rng.Next(view.Rank);
        view = view.Slice(d, rng.Next(2), null, rng.Next(1, 3));
        var c = view.Contiguous();
        return c.IsContiguous && Same(view, c) && Same(view.Contiguous(), c.Contiguous());
    }

    [Property(MaxTest = 60)]
    public bool ConcatThenSplit_ReturnsTheParts(int seed)
    {
        var rng = new System.Random(seed);
        var shape = RandomShape(rng, 1);
        int d = rng.Next(shape.Length);
        var sizes = Enumerable.Range(0, rng.Next(1, 4)).Select(_ => rng.Next(0, 4)).ToArray();
        var parts = sizes.Select(n => { var s = (int[])shape.Clone(); s[d] = n; return Any(rng, s).T; }).ToArray();
        var back = Tensor.Concat(parts, d).Split(sizes, d);
        return back.Length == parts.Length && back.Zip(parts).All(p => Same(p.First, p.Second));
    }

    [Property(MaxTest = 60)]
    public bool SoftmaxRows_SumToOne(int seed)
    {
        var rng = new System.Random(seed);
        var shape = RandomShape(rng, 1).Select(v => Math.Max(v, 1)).ToArray();
        var x = Samples.Make(rng, shape, DType.Float64, Layout.Transposed, -20, 20).T;
        int d = rng.Next(x.Rank);
        return x.Softmax(d).Sum(d).ToDoubleArray().All(s => Math.Abs(s - 1) < 1e-12);
    }

    [Property(MaxTest = 40)]
    public bool MatMulTranspose_EqualsSwappedProductOfTransposes(int seed)
    {
        var rng = new System.Random(seed);
        int m = rng.Next(1, 6), k = rng.Next(0, 6), n = rng.Next(1, 6);
        var batch = rng.Next(2) == 0 ? Array.Empty<int>() : new[] { rng.Next(1, 3) };
        // Small integers keep every product exact, so the two sides agree bit for bit.
        var a = Any(rng, [.. batch, m, k], DType.Int64).T.To(DType.Float64);
        var b = Any(rng, [.. batch, k, n], DType.Int64).T.To(DType.Float64);
        return Same(a.MatMul(b).MT, b.MT.MatMul(a.MT));
    }
}
