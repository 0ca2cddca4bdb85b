using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests.Checkpoints;

/// <summary>Files that would kill the reading process (deep shapes, truncation while open) fail with a catchable exception instead.</summary>
public sealed class SafetensorsHostileFileTests : IDisposable
{
    readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    static string Shape(int rank) => "[" + string.Join(",", Enumerable.Repeat("1", rank)) + "]";

    [Fact]
    public void Open_RejectsARankAboveTheLimit_NamingFileAndTensor()
    {
        var path = RawSafetensors.Write(_folder, """{"deep":{"dtype":"F32","shape":""" + Shape(200_001) + ""","data_offsets":[0,4]}}""", new byte[4]);
        var error = Assert.Throws<SafetensorsFormatException>(() => Safetensors.Open(path));
        Assert.Contains(path, error.Message);
        Assert.Contains("tensor 'deep'", error.Message);
        Assert.Contains("200001 dimensions, more than the engine's limit of 64", error.Message);
    }

    [Fact]
    public void Open_AcceptsRank64_TheDocumentedLimit()
    {
        var path = RawSafetensors.Write(_folder, """{"deep":{"dtype":"F32","shape":""" + Shape(64) + ""","data_offsets":[0,4]}}""", new byte[4]);
        using var file = Safetensors.Open(path);
        var t = file.Read("deep");
        Assert.Equal(64, t.Rank);
        Assert.StartsWith("tensor([[[[", t.ToString());
    }

    [Fact]
    public void Read_AfterAnotherWriterTruncatesTheOpenFile_ThrowsNamingTheTensor()
    {
        var path = _folder.File("shrinking.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor>
        {
            ["a"] = Tensor.FromArray(new float[] { 1, 2, 3 }),
            ["b"] = Tensor.Ones([1 << 16]),
        });
        using var file = Safetensors.Open(path);
        long end = file.Info("b").FileOffset;
        Assert.Equal(new float[] { 1, 2, 3 }, file.Read("a").ToArray<float>());

        using (var writer = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
            writer.SetLength(end + 100);

        var error = Assert.Throws<SafetensorsFormatException>(() => file.Read("b"));
        Assert.Contains("tensor 'b'", error.Message);
        Assert.Contains("truncated after it was opened", error.Message);
        Assert.Equal(new float[] { 1, 2, 3 }, file.Read("a").ToArray<float>()); // bytes still there still read
    }
}
