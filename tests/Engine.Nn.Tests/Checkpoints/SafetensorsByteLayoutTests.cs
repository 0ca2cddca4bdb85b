using System.Text;
using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests.Checkpoints;

/// <summary>The writer's bytes, compared with files assembled by hand from the format description.</summary>
public sealed class SafetensorsByteLayoutTests : IDisposable
{
    readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void TinyFile_IsByteIdenticalToTheSpec()
    {
        var path = _folder.File("tiny.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor>
        {
            ["b"] = Tensor.FromArray(new long[] { 1, -2 }),
            ["a"] = Tensor.FromArray(new float[] { 1.5f, -2f }, [1, 2]),
        }, new Dictionary<string, string> { ["format"] = "pt" });

        // Compact JSON, __metadata__ first, tensors sorted by name; 141 bytes, padded with 3 spaces to 144.
        const string json = """{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[2],"data_offsets":[8,24]}}""";
        Assert.Equal(141, json.Length);
        byte[] expected =
        [
            144, 0, 0, 0, 0, 0, 0, 0,                           // u64 little-endian header length
            .. Encoding.ASCII.GetBytes(json + "   "),
            0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x00, 0xC0,     // a: 1.5f, -2f
            0x01, 0, 0, 0, 0, 0, 0, 0,                          // b: 1L
            0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,     // b: -2L
        ];
        Assert.Equal(expected, File.ReadAllBytes(path));
    }

    [Fact]
    public void Header_IsPaddedWithSpacesTo8ByteAlignment()
    {
        var path = _folder.File("pad.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new[] { true, false, true }) });

        const string json = """{"x":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}}""";   // 55 bytes, padded with 1 space to 56
        Assert.Equal(55, json.Length);
        byte[] expected = [56, 0, 0, 0, 0, 0, 0, 0, .. Encoding.ASCII.GetBytes(json + " "), 1, 0, 1];
        Assert.Equal(expected, File.ReadAllBytes(path));
    }

    [Fact]
    public void Names_AreEscapedAsSerdeJsonEscapesThem()
    {
        var path = _folder.File("escape.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["q\"\\\n\u0001é"] = Tensor.Zeros([0]) });

        var bytes = File.ReadAllBytes(path);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)BitConverter.ToUInt64(bytes, 0));
        Assert.StartsWith("{\"q\\\"\\\\\\n\\u0001é\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", header);
        using var file = Safetensors.Open(path);
        Assert.Equal(["q\"\\\n\u0001é"], file.Names);
    }

    [Fact]
    public void HandBuiltFile_LoadsWithEveryField()
    {
        // Written the way another writer might: unsorted names, metadata last, fields in another order, no padding.
        const string json = """{"z":{"shape":[2],"data_offsets":[0,8],"dtype":"I32"},"a":{"dtype":"F64","data_offsets":[8,16],"shape":[]},"__metadata__":{"k":"v"}}""";
        byte[] data = [7, 0, 0, 0, 0xF9, 0xFF, 0xFF, 0xFF, .. BitConverter.GetBytes(0.25)];
        var path = RawSafetensors.Write(_folder, json, data);

        using var file = Safetensors.Open(path);
        Assert.Equal(["z", "a"], file.Names);
        Assert.Equal("v", file.Metadata["k"]);
        var z = file.Info("z");
        Assert.Equal(("I32", 0L, 8L, 8L + json.Length), (z.DType, z.DataBegin, z.DataEnd, z.FileOffset));
        Assert.Equal([7, -7], file.Read("z").ToArray<int>());
        Assert.Equal(0.25, file.Read("a").Item<double>());
        Assert.Empty(file.Read("a").Shape);
    }
}
