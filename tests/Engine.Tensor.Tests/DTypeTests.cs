using Xunit;

namespace Engine.Tests;

public class DTypeTests
{
    static readonly DType[] All = [DType.Bool, DType.Int32, DType.Int64, DType.Float32, DType.Float64];

    [Fact]
    public void Promote_FollowsPyTorchResultType()
    {
        // torch.result_type order for our dtypes: bool < int32 < int64 < float32 < float64.
        for (int i = 0; i < All.Length; i++)
            for (int j = 0; j < All.Length; j++)
            {
                var expected = All[Math.Max(i, j)];
                Assert.Equal(expected, DTypes.Promote(All[i], All[j]));
                var a = Tensor.Ones([2], All[i]);
                var b = Tensor.Ones([2], All[j]);
                if (expected != DType.Bool) Assert.Equal(expected, (a + b).DType);
                Assert.Equal(expected, Tensor.Where(Tensor.Ones([2], DType.Bool), a, b).DType);
            }
    }

    [Fact]
    public void ScalarOperands_KeepTensorDtypeUnlessFractional()
    {
        var i32 = Tensor.FromArray(new[] { 1, 2, 3 });
        Assert.Equal(DType.Int32, (i32 + 2).DType);
        Assert.Equal(DType.Int32, (i32 * 2).DType);
        Assert.Equal(DType.Float32, (i32 + 0.5).DType);
        Check.Exact(new Ref([3], [1.5, 2.5, 3.5]), i32 + 0.5);
        Assert.Equal(DType.Float32, (i32 / 2).DType);
        Check.Exact(new Ref([3], [0.5, 1, 1.5]), i32 / 2);
        var f64 = Tensor.FromArray(new double[] { 1, 2 });
        Assert.Equal(DType.Float64, (f64 * 3).DType);
        Assert.Equal(DType.Float64, (2 - f64).DType);
        var b = Tensor.FromArray(new[] { true, false });
        Assert.Equal(DType.Int64, (b + 1).DType);
        Check.Exact(new Ref([2], [2, 1]), b + 1);
    }

    [Fact]
    public void FloatingMath_OnIntegersAndBools_RunsInFloat32()
    {
        foreach (var dtype in new[] { DType.Int32, DType.Int64, DType.Bool })
        {
            var x = Tensor.Ones([3], dtype);
            Assert.Equal(DType.Float32, x.Exp().DType);
            Assert.Equal(DType.Float32, x.Mean().DType);
            Assert.Equal(DType.Float32, x.Softmax(0).DType);
            Assert.Equal(DType.Float32, x.Var().DType);
        }
        Assert.Equal(DType.Int64, Tensor.Ones([3], DType.Int32).Sum().DType);
        Assert.Equal(DType.Int64, Tensor.Ones([3], DType.Bool).Prod().DType);
        Assert.Equal(DType.Int32, Tensor.Ones([3], DType.Int32).Amax().DType);
    }

    [Fact]
    public void DTypeFacts_SizesNamesAndClrTypes()
    {
        Assert.Equal(new[] { 1, 4, 8, 4, 8 }, All.Select(d => d.SizeOf()).ToArray());
        Assert.Equal(new[] { "bool", "int32", "int64", "float32", "float64" }, All.Select(d => d.Name()).ToArray());
        Assert.Equal(new[] { typeof(bool), typeof(int), typeof(long), typeof(float), typeof(double) }, All.Select(d => d.ClrType()).ToArray());
        Assert.Equal(DType.Float64, DTypes.Of<double>());
        Assert.Throws<NotSupportedException>(() => DTypes.Of<byte>());
        Assert.True(DType.Float32.IsFloating());
        Assert.True(DType.Int32.IsInteger());
        Assert.False(DType.Bool.IsInteger());
    }

    [Fact]
    public void ToArray_WithWrongElementType_Throws()
    {
        var x = Tensor.Ones([2], DType.Int64);
        var e = Assert.Throws<InvalidOperationException>(() => x.ToArray<float>());
        Assert.Equal("ToArray<Single>: tensor has dtype int64; call .To(DType.Float32) first", e.Message);
    }
}
