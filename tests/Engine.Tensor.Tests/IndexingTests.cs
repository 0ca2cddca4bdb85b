using Xunit;

namespace Engine.Tests;

public class IndexingTests
{
    static Sample Indices(System.Random rng, int[] shape, int high, DType dtype = DType.Int64)
    {
        var v = new double[Ref.Count(shape)];
        for (int i = 0; i < v.Length; i++) v[i] = rng.Next(high);
        return new Sample(Samples.FromDoubles(v, shape, dtype), new Ref(shape, v));
    }

    [Fact]
    public void Gather_AlongEveryDimension_MatchesReference()
    {
        var rng = new System.Random(1);
        foreach (var dtype in new[] { DType.Float32, DType.Float64, DType.Int32, DType.Bool })
            foreach (var layout in Samples.Layouts)
                foreach (var indexDtype in new[] { DType.Int64, DType.Int32 })
                {
                    var x = Samples.Make(rng, [3, 4, 5], dtype, layout);
                    for (int d = 0; d < 3; d++)
                    {
                        var ishape = new[] { 2, 3, 4 };
                        ishape[d] = 6; // the gathered dimension may be longer than the input's
                        var idx = Indices(rng, ishape, x.R.Shape[d], indexDtype);
                        var idxView = idx.T.Transpose(0, 2).Contiguous().Transpose(0, 2); // strided index
                        var y = x.T.Gather(d, idxView);
                        Assert.Equal(dtype, y.DType);
                        Check.Exact(Ref.Gather(x.R, d, idx.R), y, $"{dtype} {layout} dim {d}");
                        Check.Exact(Ref.Gather(x.R, d, idx.R), x.T.Gather(d - 3, idx.T), $"{dtype} {layout} dim {d - 3}");
                    }
                }
    }

    [Fact]
    public void ScatterAdd_AccumulatesRepeatedIndices()
    {
        var rng = new System.Random(2);
        foreach (var dtype in new[] { DType.Float32, DType.Float64, DType.Int64 })
            foreach (var layout in Samples.Layouts)
                for (int d = 0; d < 3; d++)
                {
                    var x = Samples.Make(rng, [3, 4, 5], dtype, layout);
                    var ishape = new[] { 2, 3, 4 };
                    ishape[d] = 7; // more entries than slots: repeats are certain
                    var idx = Indices(rng, ishape, x.R.Shape[d]);
                    var src = Samples.Make(rng, [7, 7, 7], dtype, Layout.Transposed);
                    var y = x.T.ScatterAdd(d, idx.T, src.T);
                    Assert.Equal(dtype, y.DType);
                    Check.Close(Ref.ScatterAdd(x.R, d, idx.R, src.R), y, $"{dtype} {layout} dim {d}");
                    Check.Exact(x.R, x.T, "input unchanged");
                }
    }

    [Fact]
    public void IndexSelect_PicksSlicesInIndexOrder()
    {
        var rng = new System.Random(3);
        foreach (var dtype in new[] { DType.Float32, DType.Int64, DType.Bool })
            foreach (var layout in Samples.Layouts)
            {
                var x = Samples.Make(rng, [4, 3, 5], dtype, layout);
                for (int d = 0; d < 3; d++)
                    foreach (var picks in new[] { new[] { 2, 0, 2, 1 }, new int[0], new[] { x.R.Shape[d] - 1 } })
                    {
                        var idx = Tensor.FromArray(picks.Select(i => (long)i).ToArray());
                        Check.Exact(Ref.IndexSelect(x.R, d, picks), x.T.IndexSelect(d, idx), $"{dtype} {layout} dim {d} [{string.Join(",", picks)}]");
                        Check.Exact(Ref.IndexSelect(x.R, d, picks), x.T.IndexSelect(d, idx.To(DType.Int32)), "Int32 index");
                    }
            }
    }

    [Fact]
    public void IndexAdd_SumsRowsInIndexOrder()
    {
        // Contiguous rows (the whole-row path), a row window of a larger tensor (an offset view), and a transposed
        // source (the strided path); repeated and negative indices, against an element-by-element loop.
        var rng = new System.Random(7);
        long[] picks = [2, 0, -1, 2, 1];
        foreach (var dtype in new[] { DType.Float32, DType.Float64, DType.Int64 })
            foreach (var layout in new[] { Layout.Contiguous, Layout.Transposed })
            {
                var y = Samples.Make(rng, [4, 2, 3], dtype);
                var big = Samples.Make(rng, [7, 2, 3], dtype, layout);
                var src = big.T.Narrow(0, 1, 5);
                var expected = y.R.Data.ToArray();
                for (int i = 0; i < picks.Length; i++)
                {
                    long at = picks[i] < 0 ? picks[i] + 4 : picks[i];
                    for (int j = 0; j < 6; j++) expected[at * 6 + j] += big.R.Data[(i + 1) * 6 + j];
                }
                var actual = y.T.IndexAdd(0, Tensor.FromArray(picks), src);
                Check.Close(new Ref([4, 2, 3], expected), actual, $"{dtype} {layout}");
                Check.Exact(y.R, y.T, "input unchanged");
            }
    }

    [Fact]
    public void Embedding_LooksUpRowsForIdsOfAnyShape()
    {
        var rng = new System.Random(4);
        var table = Samples.Make(rng, [10, 3], DType.Float32);
        var ids = Indices(rng, [2, 4], 10);
        var expected = Ref.Build([2, 4, 3], idx => table.R[(int)ids.R[idx[0], idx[1]], idx[2]]);
        Check.Exact(expected, table.T.Embedding(ids.T));
    }

    [Fact]
    public void OneHot_EncodesClassesAsInt64()
    {
        var rng = new System.Random(5);
        var ids = Indices(rng, [3, 4], 6);
        var y = ids.T.OneHot(7);
        Assert.Equal(DType.Int64, y.DType);
        Check.Exact(ids.R.OneHot(7), y);
        var max = (int)ids.R.Data.Max();
        Check.Exact(ids.R.OneHot(max + 1), ids.T.OneHot());
        Check.Exact(ids.R.OneHot(max + 1), ids.T.To(DType.Int32).OneHot());
    }

    [Fact]
    public void ConcatAndStack_JoinAlongAnyDimension()
    {
        var rng = new System.Random(6);
        foreach (var layout in Samples.Layouts)
            for (int d = 0; d < 3; d++)
            {
                var parts = new[] { 2, 0, 3 }.Select(n =>
                {
                    var shape = new[] { 2, 3, 4 };
                    shape[d] = n;
                    return Samples.Make(rng, shape, DType.Float32, layout);
                }).ToArray();
                Check.Exact(Ref.Concat(parts.Select(p => p.R).ToArray(), d), Tensor.Concat(parts.Select(p => p.T).ToArray(), d), $"Concat {layout} dim {d}");
                Check.Exact(Ref.Concat(parts.Select(p => p.R).ToArray(), d), Tensor.Concat(parts.Select(p => p.T).ToArray(), d - 3), $"Concat {layout} dim {d - 3}");
            }
        foreach (var layout in Samples.Layouts)
            for (int d = 0; d <= 3; d++)
            {
                var parts = Enumerable.Range(0, 3).Select(_ => Samples.Make(rng, [2, 3, 4], DType.Float64, layout)).ToArray();
                Check.Exact(Ref.Stack(parts.Select(p => p.R).ToArray(), d), Tensor.Stack(parts.Select(p => p.T).ToArray(), d), $"Stack {layout} dim {d}");
            }
    }

    [Fact]
    public void Concat_PromotesMixedDtypes()
    {
        var a = Tensor.FromArray(new long[] { 1, 2 });
        var b = Tensor.FromArray(new double[] { 0.5 });
        var c = Tensor.FromArray(new[] { true });
        var y = Tensor.Concat([a, b, c]);
        Assert.Equal(DType.Float64, y.DType);
        Check.Exact(new Ref([4], [1, 2, 0.5, 1]), y);
        var x = Samples.Make(new System.Random(7), [3, 2], DType.Int32, Layout.Transposed);
        var z = Tensor.Concat([x.T, Tensor.Zeros([3, 1], DType.Float32)], 1);
        Assert.Equal(DType.Float32, z.DType);
        Check.Exact(Ref.Concat([x.R, Ref.Zeros([3, 1])], 1), z);
    }

    [Fact]
    public void Pad_PadsAndCropsFromTheLastDimension()
    {
        var rng = new System.Random(8);
        foreach (var layout in Samples.Layouts)
        {
            var x = Samples.Make(rng, [2, 3, 4], DType.Float32, layout);
            foreach (var padding in new[] { new[] { 1, 2 }, new[] { 0, 0, 2, 1 }, new[] { -1, 2, 1, -2 }, new[] { 1, 1, 1, 1, 1, 1 }, new[] { -2, -2 } })
                Check.Exact(x.R.Pad(padding, 9), x.T.Pad(padding, 9), $"{layout} [{string.Join(",", padding)}]");
        }
        var ints = Samples.Make(rng, [3], DType.Int64);
        var y = ints.T.Pad([2, 0], -1);
        Assert.Equal(DType.Int64, y.DType);
        Check.Exact(ints.R.Pad([2, 0], -1), y);
    }

    [Fact]
    public void RollAndFlip_MatchReference()
    {
        var rng = new System.Random(9);
        foreach (var dtype in new[] { DType.Float32, DType.Int32, DType.Bool })
            foreach (var layout in Samples.Layouts)
            {
                var x = Samples.Make(rng, [3, 4, 5], dtype, layout);
                for (int d = 0; d < 3; d++)
                    foreach (var shift in new[] { 0, 1, -1, 2, 7, -13 })
                        Check.Exact(x.R.Roll(shift, d), x.T.Roll(shift, d), $"Roll {dtype} {layout} shift {shift} dim {d}");
                Check.Exact(x.R.Flip(0), x.T.Flip(0), $"Flip {dtype} {layout}");
                Check.Exact(x.R.Flip(2, 0), x.T.Flip(-1, 0), $"Flip {dtype} {layout}");
                Check.Exact(x.R.Flip(0, 1, 2), x.T.Flip(0, 1, 2), $"Flip {dtype} {layout}");
                Check.Exact(x.R, x.T.Flip(), $"Flip none {dtype} {layout}");
            }
        var empty = Tensor.Zeros([0, 3], DType.Float32);
        Check.Exact(Ref.Zeros([0, 3]), empty.Roll(2, 0));
        Check.Exact(Ref.Zeros([0, 3]), empty.Flip(0, 1));
    }

    [Fact]
    public void TrilTriu_KeepTheRequestedTriangleOfEveryMatrix()
    {
        var rng = new System.Random(10);
        foreach (var shape in new[] { new[] { 4, 4 }, new[] { 3, 5 }, new[] { 2, 5, 3 }, new[] { 2, 0, 3 } })
            foreach (var layout in Samples.Layouts)
                foreach (var dtype in new[] { DType.Float32, DType.Int64, DType.Bool })
                {
                    var x = Samples.Make(rng, shape, dtype, layout);
                    foreach (var diagonal in new[] { 0, 1, -1, 3, -4 })
                    {
                        var what = $"{Samples.Show(shape)} {layout} {dtype} diagonal {diagonal}";
                        var lower = x.T.Tril(diagonal);
                        Assert.Equal(dtype, lower.DType);
                        Check.Exact(x.R.Triangle(diagonal, lower: true), lower, "Tril " + what);
                        Check.Exact(x.R.Triangle(diagonal, lower: false), x.T.Triu(diagonal), "Triu " + what);
                    }
                }
    }
}
