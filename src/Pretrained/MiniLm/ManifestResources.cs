using System.Buffers.Binary;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Engine.Pretrained.MiniLm;

/// <summary>
/// Reads a manifest resource out of a .NET assembly file with System.Reflection.Metadata: the file is parsed as data
/// (PE headers, metadata tables, the resources directory); the assembly is never loaded and none of its code runs.
/// </summary>
public static class ManifestResources
{
    /// <summary>The names of the resources embedded in <paramref name="assemblyPath"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a .NET assembly.</exception>
    public static IReadOnlyList<string> Names(string assemblyPath)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = Open(stream, assemblyPath);
        var metadata = pe.GetMetadataReader();
        return metadata.ManifestResources.Select(h => metadata.GetString(metadata.GetManifestResource(h).Name)).ToList();
    }

    /// <summary>The bytes of resource <paramref name="name"/> of the assembly file <paramref name="assemblyPath"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a .NET assembly, has no such embedded resource, or is truncated.</exception>
    public static byte[] Read(string assemblyPath, string name)
    {
        using var stream = File.OpenRead(assemblyPath);
        long offset, length;
        using (var pe = Open(stream, assemblyPath))
        {
            var metadata = pe.GetMetadataReader();
            var handle = metadata.ManifestResources.Select(h => metadata.GetManifestResource(h))
                .Where(r => metadata.GetString(r.Name) == name).Select(r => (ManifestResource?)r).FirstOrDefault()
                ?? throw new InvalidDataException($"ManifestResources: '{assemblyPath}' has no resource '{name}'");
            if (!handle.Implementation.IsNil) throw new InvalidDataException($"ManifestResources: resource '{name}' of '{assemblyPath}' lives in another file");
            // Embedded resources lie in the CLI header's resources directory, each as a 4-byte length and the bytes.
            var directory = pe.PEHeaders.CorHeader!.ResourcesDirectory;
            if (!pe.PEHeaders.TryGetDirectoryOffset(directory, out int start))
                throw new InvalidDataException($"ManifestResources: '{assemblyPath}' has no resources directory");
            if (handle.Offset < 0 || handle.Offset + 4L > directory.Size)
                throw new InvalidDataException($"ManifestResources: resource '{name}' of '{assemblyPath}' lies outside the resources directory");
            offset = start + handle.Offset;
            Span<byte> prefix = stackalloc byte[4];
            stream.Position = offset;
            stream.ReadExactly(prefix);
            length = BinaryPrimitives.ReadUInt32LittleEndian(prefix);
            if (handle.Offset + 4L + length > directory.Size || offset + 4 + length > stream.Length)
                throw new InvalidDataException($"ManifestResources: resource '{name}' of '{assemblyPath}' claims {length} bytes, past the end of the file");
        }
        var bytes = new byte[length];
        stream.Position = offset + 4;
        stream.ReadExactly(bytes);
        return bytes;
    }

    static PEReader Open(Stream stream, string path)
    {
        var pe = new PEReader(stream, PEStreamOptions.LeaveOpen);
        try
        {
            if (!pe.HasMetadata) throw new InvalidDataException($"ManifestResources: '{path}' is not a .NET assembly");
            return pe;
        }
        catch (BadImageFormatException e) { pe.Dispose(); throw new InvalidDataException($"ManifestResources: '{path}' is not a .NET assembly: {e.Message}", e); }
    }
}
