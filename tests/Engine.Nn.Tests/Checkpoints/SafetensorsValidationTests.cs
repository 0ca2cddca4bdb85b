using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests.Checkpoints;

/// <summary>Every way a header can break the format gives a SafetensorsFormatException naming the file, the tensor and the offset.</summary>
public sealed class SafetensorsValidationTests : IDisposable
{
    readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    SafetensorsFormatException Rejects(byte[] bytes, params string[] mentions)
    {
        var path = _folder.File("bad.safetensors");
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<SafetensorsFormatException>(() => Safetensors.Open(path));
        Assert.Equal(path, error.FilePath);
        Assert.Contains(path, error.Message);
        foreach (var mention in mentions) Assert.Contains(mention, error.Message);
        Assert.Throws<SafetensorsFormatException>(() => Safetensors.Load(path));
        return error;
    }

    SafetensorsFormatException Rejects(string json, byte[] data, params string[] mentions) => Rejects(RawSafetensors.Build(json, data), mentions);

    static byte[] Zeros(int n) => new byte[n];

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void FileShorterThan8Bytes(int length) => Rejects(Zeros(length), $"{length} bytes", "shorter than the 8-byte");

    [Fact]
    public void HeaderLengthAboveTheReferenceBound() => Rejects([.. BitConverter.GetBytes(100_000_001UL), .. "{}"u8], "100000001", "100000000-byte limit");

    [Fact]
    public void HeaderLengthNearUInt64Max_IsRejectedWithoutAllocating() => Rejects([.. BitConverter.GetBytes(ulong.MaxValue), .. "{}"u8], ulong.MaxValue.ToString());

    [Fact]
    public void HeaderLengthPastTheEndOfTheFile() => Rejects([.. BitConverter.GetBytes(1000UL), .. "{}"u8], "header length 1000", "10-byte file");

    [Theory]
    [InlineData("""{"a":{"dtype":"F32",""", "not valid JSON")]
    [InlineData("""{"a":1,}""", "not valid JSON")]
    [InlineData("""{} trailing""", "not valid JSON")]
    public void MalformedJson(string json, string mention) => Rejects(json, [], mention, "header byte");

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("\"text\"")]
    [InlineData(" {}")]
    [InlineData("")]
    public void JsonThatIsNotAnObject(string json) => Rejects(json, [], "must be an object", "byte 8");

    [Fact]
    public void HeaderThatIsNotUtf8() => Rejects([.. BitConverter.GetBytes(7UL), .. "{\""u8, 0xFF, .. "\":1}"u8], "not valid UTF-8", "file byte 10");

    [Theory]
    [InlineData("""{"w":{"shape":[1],"data_offsets":[0,4]}}""", "missing 'dtype'")]
    [InlineData("""{"w":{"dtype":"F32","data_offsets":[0,4]}}""", "missing 'shape'")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1]}}""", "missing 'data_offsets'")]
    public void EntryMissingAField(string json, string mention) => Rejects(json, Zeros(4), "tensor 'w'", mention);

    [Theory]
    [InlineData("""{"w":[1,2]}""", "entry must be an object")]
    [InlineData("""{"w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}""", "'dtype' must be a string")]
    [InlineData("""{"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}}""", "'shape' must be an array")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", "shape[0] must be an integer")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1,"2"],"data_offsets":[0,4]}}""", "shape[1] must be an integer")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""", "'data_offsets' must be an array [begin, end]")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":{"begin":0}}}""", "'data_offsets' must be an array [begin, end]")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,4]}}""", "data_offsets begin must be a non-negative integer")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}}""", "data_offsets end must be a non-negative integer")]
    [InlineData("""{"w":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "field 'dtype' appears twice")]
    public void EntryWithWrongTypes(string json, string mention) => Rejects(json, Zeros(4), "tensor 'w'", mention);

    [Theory]
    [InlineData("F8_E4M3")]
    [InlineData("f32")]
    [InlineData("C64")]
    public void UnknownDType(string dtype) => Rejects($$$"""{"w":{"dtype":"{{{dtype}}}","shape":[1],"data_offsets":[0,4]}}""", Zeros(4), "tensor 'w'", $"dtype '{dtype}'", "BF16");

    [Fact]
    public void NegativeDimension() => Rejects("""{"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,4]}}""", Zeros(4), "tensor 'w'", "shape[1] is negative (-1)");

    [Fact]
    public void DimensionBeyondTheEngineLimit() => Rejects("""{"w":{"dtype":"F32","shape":[0,3000000000],"data_offsets":[0,0]}}""", [], "tensor 'w'", "shape[1] = 3000000000");

    [Fact]
    public void ElementCountThatOverflows() =>
        Rejects("""{"w":{"dtype":"F64","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,8]}}""", Zeros(8), "tensor 'w'", "overflows");

    [Fact]
    public void ByteCountThatOverflows() =>
        Rejects("""{"w":{"dtype":"F64","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,8]}}""".Replace(",2147483647]", ",2]"), Zeros(8), "tensor 'w'", "overflows");

    [Fact]
    public void DataOffsetsOutsideTheDataSection()
    {
        const string json = """{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""";
        long dataStart = 8 + json.Length;
        var error = Rejects(json, Zeros(8), "tensor 'w'", "data_offsets [4,12]", "8-byte data section", $"file byte {dataStart + 12}", $"file length {dataStart + 8}");
        Assert.DoesNotContain("overlap", error.Message);
    }

    [Fact]
    public void DataOffsetsBeginAfterEnd() =>
        Rejects("""{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}""", Zeros(4), "tensor 'w'", "[4,0]", "begin > end", "file bytes");

    [Fact]
    public void ByteCountDisagreesWithDTypeAndShape()
    {
        const string json = """{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}""";
        Rejects(json, Zeros(20), "tensor 'w'", "needs 24 bytes", "span 20", $"file byte {8 + json.Length}");
    }

    [Fact]
    public void TensorsThatOverlap() =>
        Rejects("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", Zeros(12),
            "tensor 'b'", "overlap tensor 'a'", "[0,8]", "file byte");

    [Fact]
    public void TensorsThatLeaveAGap() =>
        Rejects("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", Zeros(12),
            "tensor 'b'", "gap of 4 unused bytes", "data offset 4", "file byte");

    [Fact]
    public void DataNotCoveredFromTheStart() =>
        Rejects("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", Zeros(8), "tensor 'a'", "gap of 4 unused bytes from data offset 0");

    [Fact]
    public void BytesAfterTheLastTensor() =>
        Rejects("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", Zeros(6), "2 bytes after the last tensor 'a'", "data offset 4", "file byte");

    [Fact]
    public void DataButNoTensors() => Rejects("{}", Zeros(3), "3 bytes after the last tensor", "file byte 10");

    [Theory]
    [InlineData("""{"__metadata__":["a"]}""", "must be an object mapping strings to strings")]
    [InlineData("""{"__metadata__":"a"}""", "must be an object mapping strings to strings")]
    [InlineData("""{"__metadata__":{"k":1}}""", "key 'k' must map to a string")]
    [InlineData("""{"__metadata__":{"k":{"nested":"v"}}}""", "key 'k' must map to a string")]
    [InlineData("""{"__metadata__":{"k":"v","k":"w"}}""", "key 'k' appears twice")]
    public void MetadataThatIsNotAStringMap(string json, string mention) => Rejects(json, [], "__metadata__", mention);

    [Fact]
    public void DuplicateTensorNames() =>
        Rejects("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", Zeros(8), "tensor 'w' appears twice");

    [Fact]
    public void DuplicateMetadataBlocks() => Rejects("""{"__metadata__":{},"__metadata__":{}}""", [], "'__metadata__' appears twice");

    /// <summary>Any corruption of a valid file either still loads or is reported as a format error: never another exception.</summary>
    [Fact]
    public void CorruptedFiles_NeverFailWithAnythingButAFormatError()
    {
        var valid = _folder.File("valid.safetensors");
        Safetensors.Save(valid, new Dictionary<string, Tensor>
        {
            ["a"] = Tensor.FromArray(new float[] { 1, 2, 3 }),
            ["b"] = Tensor.FromArray(new long[] { 4, 5 }, [1, 2]),
        }, new Dictionary<string, string> { ["m"] = "v" });
        var original = File.ReadAllBytes(valid);
        var random = new System.Random(7);
        var path = _folder.File("corrupt.safetensors");
        int rejected = 0;
        for (int trial = 0; trial < 600; trial++)
        {
            var bytes = original.ToArray();
            if (trial % 3 == 0) bytes = bytes[..random.Next(bytes.Length)];
            else for (int k = 0; k < 1 + trial % 4; k++) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            File.WriteAllBytes(path, bytes);
            try
            {
                Safetensors.Load(path);
            }
            catch (SafetensorsFormatException e)
            {
                Assert.Contains(path, e.Message);
                rejected++;
            }
        }
        Assert.InRange(rejected, 200, 600);
    }
}
