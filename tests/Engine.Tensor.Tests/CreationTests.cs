using Xunit;

namespace Engine.Tests;

public class CreationTests
{
    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    [InlineData(DType.Int32)]
    [InlineData(DType.Int64)]
    [InlineData(DType.Bool)]
    public void ZerosOnesFull_FillEveryElement(DType dtype)
    {
        foreach (var shape in Samples.Shapes)
        {
            var z = Tensor.Zeros(shape, dtype);
            Assert.Equal(dtype, z.DType);
            Check.Exact(Ref.Zeros(shape), z, "Zeros " + Samples.Show(shape));
            Check.Exact(Ref.Zeros(shape).Map(_ => 1), Tensor.Ones(shape, dtype), "Ones " + Samples.Show(shape));
            double v = dtype == DType.Bool ? 1 : dtype.IsFloating() ? 2.5 : -3;
            Check.Exact(Ref.Zeros(shape).Map(_ => v), Tensor.Full(shape, v, dtype), "Full " + Samples.Show(shape));
            Check.Exact(Ref.Zeros(shape), Tensor.Full(shape, v, dtype).ZerosLike());
            Check.Exact(Ref.Zeros(shape).Map(_ => 1), z.OnesLike());
            Check.Exact(Ref.Zeros(shape).Map(_ => v), z.FullLike(v));
            Assert.Equal(dtype, z.FullLike(v).DType);
        }
        Assert.Equal(DType.Float32, Tensor.Zeros(2, 3).DType);
        Assert.Equal(new[] { 2, 3 }, Tensor.Ones(2, 3).Shape);
    }

    [Fact]
    public void Arange_MatchesTorchArange()
    {
        var ints = Tensor.Arange(5);
        Assert.Equal(DType.Int64, ints.DType);
        Check.Exact(new Ref([5], [0, 1, 2, 3, 4]), ints);
        Check.Exact(new Ref([4], [2, 5, 8, 11]), Tensor.Arange(2, 12, 3));
        Check.Exact(new Ref([3], [5, 3, 1]), Tensor.Arange(5, 0, -2));
        Check.Exact(new Ref([0], []), Tensor.Arange(3, 1));
        var floats = Tensor.Arange(0, 1, 0.25);
        Assert.Equal(DType.Float32, floats.DType);
        Check.Exact(new Ref([4], [0, 0.25, 0.5, 0.75]), floats);
        Assert.Equal(DType.Float64, Tensor.Arange(0, 3, 1, DType.Float64).DType);
    }

    [Fact]
    public void Linspace_IncludesBothEnds()
    {
        var r = Ref.Build([7], idx => -1 + idx[0] * (3.0 / 6));
        Check.Close(r, Tensor.Linspace(-1, 2, 7, DType.Float64));
        Check.Close(r, Tensor.Linspace(-1, 2, 7));
        Check.Exact(new Ref([1], [-1]), Tensor.Linspace(-1, 2, 1));
        Check.Exact(new Ref([0], []), Tensor.Linspace(-1, 2, 0));
        Assert.Equal(2.0, Tensor.Linspace(-1, 2, 11, DType.Float64).ToArray<double>()[^1]);
    }

    [Fact]
    public void Eye_HasOnesOnTheDiagonal()
    {
        Check.Exact(Ref.Build([3, 3], i => i[0] == i[1] ? 1 : 0), Tensor.Eye(3));
        Check.Exact(Ref.Build([2, 4], i => i[0] == i[1] ? 1 : 0), Tensor.Eye(2, 4, DType.Int64));
        Assert.Equal(DType.Int64, Tensor.Eye(2, 4, DType.Int64).DType);
    }

    [Fact]
    public void FromArray_KeepsRowMajorOrderAndDtype()
    {
        var m = Tensor.FromArray(new double[,,] { { { 1, 2 }, { 3, 4 }, { 5, 6 } }, { { 7, 8 }, { 9, 10 }, { 11, 12 } } });
        Assert.Equal(new[] { 2, 3, 2 }, m.Shape);
        Assert.Equal(DType.Float64, m.DType);
        Check.Exact(Ref.Build([2, 3, 2], i => 1 + i[0] * 6 + i[1] * 2 + i[2]), m);
        Assert.Equal(DType.Int32, Tensor.FromArray(new int[,] { { 1 } }).DType);
        Assert.Equal(DType.Bool, Tensor.FromArray(new[] { true }).DType);
        var data = new float[] { 1, 2, 3, 4, 5, 6 };
        var t = Tensor.FromArray(data, [2, 3]);
        data[0] = 99; // the tensor holds a copy
        Check.Exact(new Ref([2, 3], [1, 2, 3, 4, 5, 6]), t);
        Assert.Equal(4L, Tensor.FromArray(new long[] { 4 }).Item<long>());
        Assert.Equal(2.5, Tensor.Scalar(2.5).Item());
        Assert.Equal(0, Tensor.Scalar(2.5).Rank);
    }

    [Fact]
    public void To_ConvertsBetweenAllDtypesAsPyTorchDoes()
    {
        var values = new double[] { -2.75, -1, -0.5, 0, 0.5, 1, 2.75, 100 };
        var x = Tensor.FromArray(values);
        Check.Exact(new Ref([8], values.Select(v => (double)(float)v).ToArray()), x.To(DType.Float32));
        Check.Exact(new Ref([8], values.Select(v => Math.Truncate(v)).ToArray()), x.To(DType.Int32)); // truncates toward zero
        Check.Exact(new Ref([8], values.Select(v => Math.Truncate(v)).ToArray()), x.To(DType.Int64));
        Check.Exact(new Ref([8], values.Select(v => v != 0 ? 1.0 : 0).ToArray()), x.To(DType.Bool));
        Check.Exact(new Ref([8], values.Select(v => v != 0 ? 1.0 : 0).ToArray()), x.To(DType.Bool).To(DType.Float32));
        Assert.Same(x, x.To(DType.Float64));
        // A strided view converts elementwise too.
        var s = Samples.Make(new System.Random(1), [3, 4], DType.Float64, Layout.Transposed);
        Check.Exact(s.R.Map(v => (double)(float)v), s.T.To(DType.Float32));
        Check.Exact(s.R.Map(Math.Truncate), s.T.To(DType.Int64));
    }
}
