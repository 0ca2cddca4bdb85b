using Xunit;

namespace Engine.Tests;

public class ViewTests
{
    static Sample Base(int[] shape, DType dtype = DType.Float64) => Samples.Make(new System.Random(shape.Sum() + 1), shape, dtype);

    [Fact]
    public void Views_ShareStorageWithTheirBase()
    {
        var x = Base([2, 3, 4]).T;
        foreach (var v in new[] { x.View(6, 4), x.Reshape(-1), x.Permute(2, 0, 1), x.Transpose(0, 2), x.Narrow(1, 1, 2),
                     x.Slice(2, 1, null, 2), x.Select(0, 1), x[1, 2], x.Unsqueeze(1), x.Unsqueeze(-1).Squeeze(), x.Flatten(1),
                     x.Split(2, 2)[1], x.Chunk(2, 1)[0], x.Select(1, 0).Unsqueeze(1).Expand(2, 5, 4), x.MT, x.Contiguous() })
            Assert.Same(x.Storage, v.Storage);
    }

    [Fact]
    public void Contiguous_ReturnsSameTensorWhenContiguous_AndCopiesOtherwise()
    {
        var x = Base([3, 4]);
        Assert.True(x.T.IsContiguous);
        Assert.True(ReferenceEquals(x.T.Contiguous(), x.T));
        var rows = x.T.Narrow(0, 1, 2);
        Assert.True(rows.IsContiguous);
        Assert.Same(rows, rows.Contiguous());
        var t = x.T.T;
        Assert.False(t.IsContiguous);
        var c = t.Contiguous();
        Assert.NotSame(t.Storage, c.Storage);
        Assert.True(c.IsContiguous);
        Check.Exact(x.R.Transpose(0, 1), c);
    }

    [Fact]
    public void Contiguous_OfFreshEmptyTensor_IsTheTensorItself()
    {
        foreach (var shape in new[] { new[] { 0 }, new[] { 2, 0, 3 }, new[] { 0, 4 } })
        {
            var t = Tensor.Zeros(shape, DType.Float32);
            Assert.True(t.IsContiguous, Samples.Show(shape));
            Assert.Same(t, t.Contiguous());
        }
    }

    [Fact]
    public void EmptyViews_AtTheEndOfStorage_ReadAndCopyAsEmpty()
    {
        // Slicing the end of two dimensions puts the offset past the storage; nothing may be read there.
        var x = Tensor.Ones([3, 1], DType.Float32).Slice(0, 3).Slice(1, 1);
        Assert.Equal(new[] { 0, 0 }, x.Shape);
        Check.Exact(Ref.Zeros([0, 0]), x);
        Check.Exact(Ref.Zeros([0, 0]), x.Clone());
        Check.Exact(Ref.Zeros([0, 0]), x.To(DType.Float64));
        Check.Exact(Ref.Zeros([0, 4]), Tensor.Concat([x.Expand(0, 0), x], 1).Pad([2, 2]));
        Check.Exact(Ref.Zeros([0, 0]), x.Contiguous());
    }

    [Fact]
    public void Contiguous_OfAnyView_EqualsTheViewsValues()
    {
        var rng = new System.Random(3);
        foreach (var dtype in new[] { DType.Float32, DType.Float64, DType.Int32, DType.Int64, DType.Bool })
            foreach (var shape in Samples.Shapes)
                foreach (var layout in Samples.Layouts)
                {
                    var x = Samples.Make(rng, shape, dtype, layout);
                    var c = x.T.Contiguous();
                    Assert.True(c.IsContiguous, $"{dtype} {Samples.Show(shape)} {layout}: strides {string.Join(",", c.Strides)}");
                    Assert.Equal(dtype, c.DType);
                    Check.Exact(x.R, c, $"{dtype} {Samples.Show(shape)} {layout}");
                    Check.Exact(x.R, x.T, $"ToArray {dtype} {Samples.Show(shape)} {layout}");
                    Check.Exact(x.R, x.T.Clone(), $"Clone {dtype} {Samples.Show(shape)} {layout}");
                }
    }

    [Fact]
    public void View_ThrowsOnNonViewableStrides_WhileReshapeCopies()
    {
        var x = Base([3, 4]);
        var t = x.T.T;
        Assert.Throws<InvalidOperationException>(() => t.View(12));
        var r = t.Reshape(12);
        Assert.NotSame(x.T.Storage, r.Storage);
        Check.Exact(x.R.Transpose(0, 1).Reshape(12), r);
        var viewable = x.T.Reshape(2, -1);
        Assert.Same(x.T.Storage, viewable.Storage);
        Check.Exact(x.R.Reshape(2, 6), viewable);
        // A transposed tensor can still be viewed when the split stays inside one contiguous chunk.
        var split = x.T.T.View(2, 2, 3);
        Check.Exact(x.R.Transpose(0, 1).Reshape(2, 2, 3), split);
        var expanded = Base([1, 4]).T.Expand(3, 4);
        Assert.Throws<InvalidOperationException>(() => expanded.View(12));
        Check.Exact(Base([1, 4]).R.BroadcastTo([3, 4]).Reshape(12), expanded.Reshape(12));
    }

    [Fact]
    public void PermuteTransposeAndMT_MatchReference()
    {
        var x = Base([2, 3, 4, 5]);
        Check.Exact(x.R.Permute(3, 1, 0, 2), x.T.Permute(3, 1, 0, 2));
        Check.Exact(x.R.Permute(3, 1, 0, 2), x.T.Permute(-1, 1, -4, 2));
        Check.Exact(x.R.Transpose(1, 3), x.T.Transpose(1, -1));
        Check.Exact(x.R.Transpose(2, 3), x.T.MT);
        var m = Base([3, 5]);
        Check.Exact(m.R.Transpose(0, 1), m.T.T);
        var v = Base([4]);
        Assert.Same(v.T, v.T.T);
    }

    [Fact]
    public void NarrowSliceAndSelect_MatchReference()
    {
        var x = Base([5, 7, 3]);
        Check.Exact(x.R.Slice(1, 2, 6, 1), x.T.Narrow(1, 2, 4));
        Check.Exact(x.R.Slice(1, 5, 7, 1), x.T.Narrow(1, -2, 2));
        Check.Exact(x.R.Slice(0, 1, 5, 2), x.T.Slice(0, 1, null, 2));
        Check.Exact(x.R.Slice(1, 4, 7, 1), x.T.Slice(1, -3));
        Check.Exact(x.R.Slice(1, 0, 6, 3), x.T.Slice(1, null, -1, 3));
        Check.Exact(x.R.Slice(1, 0, 0, 1), x.T.Slice(1, 5, 2));
        Check.Exact(x.R.Slice(2, 0, 3, 5), x.T.Slice(2, -10, 100, 5));
        Check.Exact(x.R.Slice(0, 3, 4, 1).Reshape(7, 3), x.T.Select(0, 3));
        Check.Exact(x.R.Slice(1, 6, 7, 1).Reshape(5, 3), x.T.Select(1, -1));
        Check.Exact(x.R.Slice(0, 4, 5, 1).Slice(1, 2, 3, 1).Reshape(3), x.T[4, 2]);
        Check.Exact(Ref.Scalar(x.R[1, 2, 0]), x.T[1, 2, 0]);
        // Slicing a slice composes offsets and strides.
        Check.Exact(x.R.Slice(1, 1, 7, 2).Slice(1, 1, 3, 1).Slice(0, 0, 5, 2), x.T.Slice(1, 1, null, 2).Narrow(1, 1, 2).Slice(0, step: 2));
    }

    [Fact]
    public void ExpandAndBroadcastTo_RepeatSizeOneDimensions()
    {
        var x = Base([3, 1]);
        Check.Exact(x.R.BroadcastTo([2, 3, 4]), x.T.Expand(2, 3, 4));
        Check.Exact(x.R.BroadcastTo([3, 5]), x.T.Expand(-1, 5));
        Check.Exact(x.R.BroadcastTo([3, 0]), x.T.BroadcastTo(3, 0));
        Assert.Equal(new long[] { 0, 1, 0 }, x.T.Expand(2, 3, 4).Strides.Select(s => s == 0 ? 0L : 1L).ToArray());
    }

    [Fact]
    public void SqueezeUnsqueezeFlatten_MatchReference()
    {
        var x = Base([2, 1, 3, 1]);
        Check.Exact(x.R.Reshape(2, 3), x.T.Squeeze());
        Check.Exact(x.R.Reshape(2, 3, 1), x.T.Squeeze(1));
        Check.Exact(x.R, x.T.Squeeze(0));
        Check.Exact(x.R.Reshape(2, 1, 3), x.T.Squeeze(-1));
        Check.Exact(x.R.Reshape(1, 2, 1, 3, 1), x.T.Unsqueeze(0));
        Check.Exact(x.R.Reshape(2, 1, 3, 1, 1), x.T.Unsqueeze(-1));
        Check.Exact(x.R.Reshape(2, 1, 1, 3, 1), x.T.Unsqueeze(2));
        Check.Exact(x.R.Reshape(6), x.T.Flatten());
        Check.Exact(x.R.Reshape(2, 3, 1), x.T.Flatten(1, 2));
        Check.Exact(Ref.Scalar(7).Reshape(1), Tensor.Scalar(7).Flatten());
        var y = Base([2, 3, 4]);
        var t = y.T.Permute(2, 0, 1);
        Check.Exact(y.R.Permute(2, 0, 1).Reshape(4, 6), t.Flatten(1));
        Check.Exact(y.R.Permute(2, 0, 1).Reshape(4, 2, 1, 3), t.Unsqueeze(2));
    }

    [Fact]
    public void SplitAndChunk_ReturnConsecutivePieces()
    {
        var x = Base([7, 4]);
        var parts = x.T.Split([2, 0, 5], 0);
        Check.Exact(x.R.Slice(0, 0, 2, 1), parts[0]);
        Check.Exact(x.R.Slice(0, 2, 2, 1), parts[1]);
        Check.Exact(x.R.Slice(0, 2, 7, 1), parts[2]);
        var pieces = x.T.Split(3, 0);
        Assert.Equal(3, pieces.Length);
        Check.Exact(x.R.Slice(0, 6, 7, 1), pieces[2]);
        var chunks = x.T.Chunk(3, -1);
        Assert.Equal(2, chunks.Length);
        Check.Exact(x.R.Slice(1, 0, 2, 1), chunks[0]);
        Check.Exact(x.R.Slice(1, 2, 4, 1), chunks[1]);
    }

    [Fact]
    public void MetadataAccessors_DescribeTheView()
    {
        var x = Base([2, 3, 4]).T;
        var p = x.Permute(2, 0, 1);
        Assert.Equal(new[] { 4, 2, 3 }, p.Shape);
        Assert.Equal(new long[] { 1, 12, 4 }, p.Strides);
        Assert.Equal(3, p.Rank);
        Assert.Equal(24, p.Numel);
        Assert.Equal(2, p.Size(1));
        Assert.Equal(3, p.Size(-1));
        Assert.Equal(Device.Cpu, p.Device);
        Assert.Equal(5, x.Narrow(2, 1, 2).Select(1, 1).Offset);
        // Shape and Strides are copies: mutating them does not change the tensor.
        p.Shape[0] = 99;
        Assert.Equal(4, p.Shape[0]);
    }
}
