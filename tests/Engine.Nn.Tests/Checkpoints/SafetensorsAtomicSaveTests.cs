using System.Collections;
using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests.Checkpoints;

/// <summary>A save that fails at any point leaves the previous checkpoint byte-identical and no temporary file behind.</summary>
public sealed class SafetensorsAtomicSaveTests : IDisposable
{
    readonly TempFolder _folder = new();
    readonly string _path;
    readonly byte[] _previous;

    public SafetensorsAtomicSaveTests()
    {
        _path = _folder.File("model.safetensors");
        Safetensors.Save(_path, new Dictionary<string, Tensor> { ["old"] = Tensor.FromArray(new float[] { 1, 2, 3 }) });
        _previous = File.ReadAllBytes(_path);
    }

    public void Dispose() => _folder.Dispose();

    void AssertPreviousFileIntact()
    {
        Assert.Equal(_previous, File.ReadAllBytes(_path));
        Assert.Equal(["model.safetensors"], _folder.Listing());
    }

    static Dictionary<string, Tensor> NewTensors() => new()
    {
        ["a"] = Tensor.Ones([1000]),
        ["b"] = Tensor.Ones([1000], DType.Int64),
    };

    /// <summary>A dictionary whose enumeration throws after yielding some entries, as a lazily built state dict might.</summary>
    sealed class ThrowingDictionary(int yieldBeforeThrowing) : IReadOnlyDictionary<string, Tensor>
    {
        public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator()
        {
            for (int i = 0; i < yieldBeforeThrowing; i++) yield return new($"t{i}", Tensor.Ones(4));
            throw new InvalidOperationException("state dict enumeration failed");
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
        public int Count => yieldBeforeThrowing + 1;
        public Tensor this[string key] => throw new KeyNotFoundException(key);
        public IEnumerable<string> Keys => throw new NotSupportedException();
        public IEnumerable<Tensor> Values => throw new NotSupportedException();
        public bool ContainsKey(string key) => false;
        public bool TryGetValue(string key, out Tensor value) { value = null!; return false; }
    }

    /// <summary>A stream that accepts a number of bytes and then fails, like a full disk.</summary>
    sealed class FailingStream(Stream inner, long failAfter) : Stream
    {
        long _written;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _written;
        public override long Position { get => _written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_written + buffer.Length > failAfter) throw new IOException("No space left on device (simulated)");
            inner.Write(buffer);
            _written += buffer.Length;
        }
    }

    [Fact]
    public void EnumerationThatThrowsMidway_LeavesThePreviousFile()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Safetensors.Save(_path, new ThrowingDictionary(2)));
        Assert.Contains("enumeration failed", error.Message);
        AssertPreviousFileIntact();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(100)]
    [InlineData(5000)]
    public void WriteFailureMidFile_LeavesThePreviousFileAndDeletesTheTemporary(long failAfter)
    {
        var error = Assert.Throws<IOException>(() =>
            SafetensorsWriter.Save(_path, NewTensors(), null, null, file => new FailingStream(file, failAfter)));
        Assert.Contains("simulated", error.Message);
        AssertPreviousFileIntact();
    }

    [Fact]
    public void RenameFailure_DeletesTheTemporary()
    {
        var target = _folder.File("occupied");
        Directory.CreateDirectory(target);
        Assert.ThrowsAny<IOException>(() => Safetensors.Save(target, NewTensors()));
        Assert.True(Directory.Exists(target));
        Assert.Equal(["model.safetensors", "occupied"], _folder.Listing());
        AssertPreviousFileIntact_ExceptFor("occupied");
    }

    void AssertPreviousFileIntact_ExceptFor(string other)
    {
        Assert.Equal(_previous, File.ReadAllBytes(_path));
        Assert.Equal(["model.safetensors", other], _folder.Listing());
    }

    [Fact]
    public void MissingFolder_FailsWithoutCreatingAnything()
    {
        var path = Path.Combine(_folder.Root, "no-such-folder", "model.safetensors");
        Assert.Throws<DirectoryNotFoundException>(() => Safetensors.Save(path, NewTensors()));
        AssertPreviousFileIntact();
    }

    [Fact]
    public void ReservedMetadataName_IsRejectedBeforeTouchingTheDisk()
    {
        var tensors = NewTensors();
        tensors["__metadata__"] = Tensor.Ones(1);
        var error = Assert.Throws<ArgumentException>(() => Safetensors.Save(_path, tensors));
        Assert.Contains("__metadata__", error.Message);
        AssertPreviousFileIntact();
    }

    [Fact]
    public void NullTensorOrMetadataValue_IsRejectedBeforeTouchingTheDisk()
    {
        var tensors = NewTensors();
        tensors["c"] = null!;
        Assert.Contains("'c'", Assert.Throws<ArgumentException>(() => Safetensors.Save(_path, tensors)).Message);
        Assert.Contains("'k'", Assert.Throws<ArgumentException>(() =>
            Safetensors.Save(_path, NewTensors(), new Dictionary<string, string> { ["k"] = null! })).Message);
        AssertPreviousFileIntact();
    }

    [Fact]
    public void LoneSurrogateInAName_IsRejectedBeforeTouchingTheDisk()
    {
        var tensors = NewTensors();
        tensors["bad\uD800"] = Tensor.Ones(1);
        Assert.Contains("surrogate", Assert.Throws<ArgumentException>(() => Safetensors.Save(_path, tensors)).Message);
        AssertPreviousFileIntact();
    }

    [Fact]
    public void SuccessfulSave_ReplacesThePreviousFileAndLeavesNoTemporary()
    {
        Safetensors.Save(_path, NewTensors());
        Assert.Equal(["model.safetensors"], _folder.Listing());
        Assert.Equal(["a", "b"], Safetensors.Load(_path).Keys);
    }

    [Fact]
    public void SaveOverAnOpenFile_LeavesTheOpenMappingReadable()
    {
        using var open = Safetensors.Open(_path);
        Safetensors.Save(_path, NewTensors());
        Assert.Equal([1f, 2, 3], open.Read("old").ToArray<float>());
        Assert.Equal(["a", "b"], Safetensors.Load(_path).Keys);
    }
}
