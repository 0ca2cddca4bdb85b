using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests.Checkpoints;

/// <summary>
/// Per-tensor storage types (written for BitStack's packed signs and fp16 factors): a Float32 stored as F16 reads back
/// rounded to binary16, an Int32 of bytes as U8 reads back exactly, the others keep their type, and a type that cannot
/// hold a tensor is a named error before anything is written.
/// </summary>
public class SafetensorsPerTensorStorageTests
{
    static string NewPath() => Path.Combine(Directory.CreateTempSubdirectory("st-storage-").FullName, "t.safetensors");

    [Fact]
    public void SaveWithStorage_WritesEachTensorInItsType()
    {
        var path = NewPath();
        var tensors = new Dictionary<string, Tensor>
        {
            ["half"] = Tensor.FromArray(new[] { 0.1f, 1f / 3 }, [2]),
            ["bytes"] = Tensor.FromArray(new[] { 0, 255, 128 }, [3]),
            ["plain"] = Tensor.FromArray(new[] { 0.1f }, [1]),
        };
        Safetensors.SaveWithStorage(path, tensors, null, new Dictionary<string, SafetensorsDType> { ["half"] = SafetensorsDType.F16, ["bytes"] = SafetensorsDType.U8 });
        using var file = Safetensors.Open(path);
        Assert.Equal("F16", file.Info("half").DType);
        Assert.Equal("U8", file.Info("bytes").DType);
        Assert.Equal(3, file.Info("bytes").ByteLength);
        Assert.Equal("F32", file.Info("plain").DType);
        Assert.Equal(new[] { (float)(Half)0.1f, (float)(Half)(1f / 3) }, file.Read("half").ToArray<float>());
        Assert.Equal(new[] { 0, 255, 128 }, file.Read("bytes").ToArray<int>());
        Assert.Equal(new[] { 0.1f }, file.Read("plain").ToArray<float>());
    }

    [Theory]
    [InlineData(256)]
    [InlineData(-1)]
    public void SaveWithStorage_ByteOutOfRange_IsNamedError(int value)
    {
        var path = NewPath();
        var e = Assert.Throws<ArgumentException>(() => Safetensors.SaveWithStorage(path, new Dictionary<string, Tensor> { ["s"] = Tensor.FromArray(new[] { 3, value }, [2]) }, null,
            new Dictionary<string, SafetensorsDType> { ["s"] = SafetensorsDType.U8 }));
        Assert.Contains("tensor 's'", e.Message);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void SaveWithStorage_Float64AsHalf_IsNamedError()
    {
        var e = Assert.Throws<ArgumentException>(() => Safetensors.SaveWithStorage(NewPath(), new Dictionary<string, Tensor> { ["d"] = Tensor.Zeros([2], DType.Float64) }, null,
            new Dictionary<string, SafetensorsDType> { ["d"] = SafetensorsDType.F16 }));
        Assert.Contains("cannot be stored as F16", e.Message);
    }
}
