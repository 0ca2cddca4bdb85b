using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests.Checkpoints;

public sealed class SafetensorsRoundTripTests : IDisposable
{
    readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    static uint[] Bits(float[] values) => Array.ConvertAll(values, BitConverter.SingleToUInt32Bits);
    static ulong[] Bits(double[] values) => Array.ConvertAll(values, BitConverter.DoubleToUInt64Bits);

    [Fact]
    public void EveryEngineDType_RoundTripsBitExactly()
    {
        float[] f32 = [1.5f, -0f, float.NaN, float.PositiveInfinity, float.Epsilon, float.MaxValue];
        double[] f64 = [Math.PI, -0d, double.NegativeInfinity, double.Epsilon, 1e300, -7];
        int[] i32 = [int.MinValue, -1, 0, 1, int.MaxValue, 42];
        long[] i64 = [long.MinValue, -1, 0, 1, long.MaxValue, 1L << 40];
        bool[] b = [true, false, false, true, true, false];
        var path = _folder.File("all.safetensors");

        Safetensors.Save(path, new Dictionary<string, Tensor>
        {
            ["f32"] = Tensor.FromArray(f32, [2, 3]),
            ["f64"] = Tensor.FromArray(f64, [3, 2]),
            ["i32"] = Tensor.FromArray(i32, [6]),
            ["i64"] = Tensor.FromArray(i64, [1, 6]),
            ["bool"] = Tensor.FromArray(b, [2, 1, 3]),
        });
        var loaded = Safetensors.Load(path);

        Assert.Equal(DType.Float32, loaded["f32"].DType);
        Assert.Equal([2, 3], loaded["f32"].Shape);
        Assert.Equal(Bits(f32), Bits(loaded["f32"].ToArray<float>()));
        Assert.Equal([3, 2], loaded["f64"].Shape);
        Assert.Equal(Bits(f64), Bits(loaded["f64"].ToArray<double>()));
        Assert.Equal(i32, loaded["i32"].ToArray<int>());
        Assert.Equal([1, 6], loaded["i64"].Shape);
        Assert.Equal(i64, loaded["i64"].ToArray<long>());
        Assert.Equal([2, 1, 3], loaded["bool"].Shape);
        Assert.Equal(b, loaded["bool"].ToArray<bool>());
    }

    [Fact]
    public void Float32StoredAsF64_ReadsBackAsExactFloat64()
    {
        float[] values = [0.1f, -3.25f, 1e-40f];
        var path = _folder.File("wide.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray(values) }, storeFloat32As: SafetensorsDType.F64);

        using var file = Safetensors.Open(path);
        Assert.Equal("F64", file.Info("w").DType);
        Assert.Equal(Array.ConvertAll(values, v => (double)v), file.Read("w").ToArray<double>());
    }

    [Fact]
    public void ScalarsAndEmptyTensors_RoundTripWithTheirShapes()
    {
        var path = _folder.File("edge.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor>
        {
            ["scalar"] = Tensor.Scalar(2.5),
            ["scalar_i64"] = Tensor.Scalar(-9, DType.Int64),
            ["empty"] = Tensor.Zeros([0], DType.Float32),
            ["empty_3d"] = Tensor.Zeros([2, 0, 3], DType.Int32),
        });

        using var file = Safetensors.Open(path);
        Assert.Empty(file.Info("scalar").Shape);
        Assert.Equal(4, file.Info("scalar").ByteLength);
        Assert.Equal(2.5f, file.Read("scalar").Item<float>());
        Assert.Equal(-9L, file.Read("scalar_i64").Item<long>());
        Assert.Equal([0], file.Read("empty").Shape);
        Assert.Equal(0, file.Info("empty").ByteLength);
        Assert.Equal([2, 0, 3], file.Read("empty_3d").Shape);
        Assert.Equal(DType.Int32, file.Read("empty_3d").DType);
    }

    [Fact]
    public void NonContiguousViews_AreWrittenFromTheirContiguousValues()
    {
        var baseTensor = Tensor.FromArray(Enumerable.Range(0, 12).Select(i => (float)i).ToArray(), [3, 4]);
        var transposed = baseTensor.Transpose(0, 1);
        var strided = baseTensor.Slice(1, 0, 4, 2);
        Assert.False(transposed.IsContiguous);
        Assert.False(strided.IsContiguous);
        var path = _folder.File("views.safetensors");

        Safetensors.Save(path, new Dictionary<string, Tensor> { ["t"] = transposed, ["s"] = strided });
        var loaded = Safetensors.Load(path);

        Assert.Equal([4, 3], loaded["t"].Shape);
        Assert.Equal(transposed.ToArray<float>(), loaded["t"].ToArray<float>());
        Assert.Equal([0f, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11], loaded["t"].ToArray<float>());
        Assert.Equal([0f, 2, 4, 6, 8, 10], loaded["s"].ToArray<float>());
    }

    [Fact]
    public void Metadata_RoundTripsIncludingCharactersJsonMustEscape()
    {
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["quote\"back\\slash"] = "line\nbreak\ttab\u0001",
            ["unicode"] = "héllo ✓ 𝄞",
            ["empty"] = "",
        };
        var path = _folder.File("meta.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["x"] = Tensor.Ones(2) }, metadata);

        using var file = Safetensors.Open(path);
        Assert.Equal(metadata.OrderBy(p => p.Key), file.Metadata.OrderBy(p => p.Key));
    }

    [Fact]
    public void NoMetadata_ReadsAsEmptyMap()
    {
        var path = _folder.File("nometa.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["x"] = Tensor.Ones(1) });
        using var file = Safetensors.Open(path);
        Assert.Empty(file.Metadata);
    }

    [Fact]
    public void Tensors_AreWrittenInNameOrderWithContiguousNonOverlappingData()
    {
        var path = _folder.File("order.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor>
        {
            ["b.weight"] = Tensor.Ones([3], DType.Float64),
            ["a"] = Tensor.Ones([2], DType.Bool),
            ["B"] = Tensor.Ones([5], DType.Int32),
            ["a.bias"] = Tensor.Ones([1], DType.Float32),
        });

        using var file = Safetensors.Open(path);
        Assert.Equal(["B", "a", "a.bias", "b.weight"], file.Names);
        long expectedBegin = 0;
        foreach (var name in file.Names)
        {
            var info = file.Info(name);
            Assert.Equal(expectedBegin, info.DataBegin);
            expectedBegin = info.DataEnd;
        }
        Assert.Equal(new FileInfo(path).Length, file.Info("b.weight").FileOffset + file.Info("b.weight").ByteLength);
        Assert.Equal(0, file.Info("B").FileOffset % 8);
    }

    [Fact]
    public void SmallIntegerDTypes_AreReadAsInt32()
    {
        byte[] data = [200, 0xFF, 0x00, 0x80, 0xFF, 0xFF];
        var path = RawSafetensors.Write(_folder,
            """{"u8":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"i8":{"dtype":"I8","shape":[1],"data_offsets":[1,2]},"i16":{"dtype":"I16","shape":[1],"data_offsets":[2,4]},"u16":{"dtype":"U16","shape":[1],"data_offsets":[4,6]}}""",
            data);

        var loaded = Safetensors.Load(path);
        Assert.All(loaded.Values, t => Assert.Equal(DType.Int32, t.DType));
        Assert.Equal([200], loaded["u8"].ToArray<int>());
        Assert.Equal([-1], loaded["i8"].ToArray<int>());
        Assert.Equal([-32768], loaded["i16"].ToArray<int>());
        Assert.Equal([65535], loaded["u16"].ToArray<int>());
    }

    [Fact]
    public void EmptyCheckpoint_RoundTrips()
    {
        var path = _folder.File("none.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor>());
        Assert.Empty(Safetensors.Load(path));
        Assert.Equal(16, new FileInfo(path).Length); // 8-byte length + "{}" padded to 8
    }
}
