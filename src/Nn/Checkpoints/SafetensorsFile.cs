using Microsoft.Win32.SafeHandles;

namespace Engine.Nn.Checkpoints;

/// <summary>
/// An open safetensors file: the header is read and validated up front, the data stays on disk, and <see cref="Read"/>
/// copies out only the tensor asked for with positional reads on the open handle (safe from several threads).
/// No memory mapping: a mapped page that another writer truncates away faults the process (SIGBUS), which nothing can
/// catch, whereas a read past the new end of the file is a short read. So a file truncated while open makes
/// <see cref="Read"/> throw <see cref="SafetensorsFormatException"/> naming the tensor; a file rewritten in place while
/// open gives whatever bytes are there at the time of the read (as with any reader; savers here write a new file and rename it).
/// Example: <c>using var file = Safetensors.Open("model.safetensors"); var wte = file.Read("wte.weight");</c>
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    readonly FileStream _stream;
    readonly Dictionary<string, SafetensorsTensorInfo> _byName;
    bool _disposed;

    SafetensorsFile(string path, SafetensorsHeader header, FileStream stream)
    {
        Path = path;
        _stream = stream;
        Metadata = header.Metadata.AsReadOnly();
        Names = header.Tensors.Select(t => t.Name).ToList().AsReadOnly();
        _byName = header.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The file this was opened from.</summary>
    public string Path { get; }

    /// <summary>The <c>__metadata__</c> map (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Tensor names in the order the header lists them.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Opens and validates <paramref name="path"/>; throws <see cref="SafetensorsFormatException"/> when the file breaks the format.</summary>
    internal static SafetensorsFile Open(string path)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; this reader maps it directly and needs a little-endian host");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long fileLength = stream.Length;
            Span<byte> prefix = stackalloc byte[8];
            stream.ReadExactly(prefix[..(int)Math.Min(8, fileLength)]);
            long headerLength = SafetensorsHeader.ReadLength(path, prefix, fileLength);
            var json = new byte[headerLength];
            stream.ReadExactly(json);
            var header = SafetensorsHeader.Parse(path, json, fileLength - 8 - headerLength);

            return new SafetensorsFile(path, header, stream);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Where tensor <paramref name="name"/> lies and how it is stored, e.g. <c>file.Info("bias").Shape</c>.</summary>
    public SafetensorsTensorInfo Info(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_byName.TryGetValue(name, out var info)) return info;
        throw new KeyNotFoundException($"safetensors file '{Path}' has no tensor '{name}'; it has {Names.Count}: {string.Join(", ", Names.Take(20))}{(Names.Count > 20 ? ", ..." : "")}");
    }

    /// <summary>Copies tensor <paramref name="name"/> out of the file into a new tensor, e.g. <c>var w = file.Read("weight");</c></summary>
    public Tensor Read(string name)
    {
        var info = Info(name);
        return SafetensorsElementCodec.Decode(ReadBytes, info);
    }

    // Fills `destination` from file byte `position`; a short read means the file shrank after it was validated.
    void ReadBytes(Span<byte> destination, long position, SafetensorsTensorInfo info)
    {
        SafeFileHandle handle = _stream.SafeFileHandle;
        while (destination.Length > 0)
        {
            int read = RandomAccess.Read(handle, destination, position);
            if (read == 0)
                throw new SafetensorsFormatException(Path,
                    $"tensor '{info.Name}': the file ends at byte {position} (now {RandomAccess.GetLength(handle)} bytes), but the tensor's data runs to file byte {info.FileOffset + info.ByteLength}; it was truncated after it was opened");
            destination = destination[read..];
            position += read;
        }
    }

    /// <summary>Unmaps the file and closes it.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stream.Dispose();
    }
}
