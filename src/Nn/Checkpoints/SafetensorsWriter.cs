using System.Text;

namespace Engine.Nn.Checkpoints;

/// <summary>
/// Writes a safetensors file atomically: everything is validated first, the bytes go to a temporary file in the target's
/// folder (<see cref="TemporaryFile"/>), which is flushed to disk and then renamed over the target; on any failure the
/// temporary file is deleted and the previous file is left as it was. Temporaries of the same target left by killed
/// saves are deleted by the next save.
/// </summary>
internal static class SafetensorsWriter
{
    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Saves; <paramref name="interceptOutput"/> lets tests wrap the file stream to inject a failure mid-write.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata,
        SafetensorsDType? storeFloat32As, Func<Stream, Stream>? interceptOutput = null, IReadOnlyDictionary<string, SafetensorsDType>? storageOf = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var write = Prepare(tensors, metadata, storeFloat32As, storageOf);

        string fullPath = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(fullPath)!;
        string fileName = Path.GetFileName(fullPath);
        // Temporaries of this file left by killed saves go now; those a folder save's commit record still needs stay.
        TemporaryFile.DeleteAbandoned(folder, target => target == fileName, FolderTransaction.PendingTemporaries(folder));
        string temporary = Path.Combine(folder, TemporaryFile.NameFor(fileName));
        FileStream? file = null;
        try
        {
            file = TemporaryFile.Create(temporary);
            var output = interceptOutput?.Invoke(file) ?? file;
            write(output);
            output.Flush();
            file.Flush(flushToDisk: true);
            // Renamed while still open, so no cleaner can take it for abandoned in between.
            File.Move(temporary, fullPath, overwrite: true);
            file.Dispose();
        }
        catch
        {
            file?.Dispose();
            try { File.Delete(temporary); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>
    /// Validates and lays out <paramref name="tensors"/> without touching any file, and returns what writes the whole
    /// safetensors file to a stream; so a folder save fails on a bad tensor before it writes anything.
    /// </summary>
    public static Action<Stream> Prepare(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata, SafetensorsDType? storeFloat32As,
        IReadOnlyDictionary<string, SafetensorsDType>? storageOf = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var float32Storage = storeFloat32As ?? SafetensorsDType.F32;
        if (float32Storage is not (SafetensorsDType.F32 or SafetensorsDType.F64 or SafetensorsDType.F16 or SafetensorsDType.BF16))
            throw new ArgumentException($"Safetensors.Save: storeFloat32As must be F32, F64, F16 or BF16, got {float32Storage}", nameof(storeFloat32As));

        var entries = Plan(tensors, metadata, float32Storage, storageOf);
        byte[] header = SafetensorsHeader.Format(entries.Select(e => (e.Name, e.Storage, e.Tensor.Shape, e.Begin, e.End)).ToList(), metadata);
        return output =>
        {
            Span<byte> length = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            output.Write(length);
            output.Write(header);
            foreach (var e in entries) SafetensorsElementCodec.Encode(e.Tensor, e.Storage, output);
        };
    }

    /// <summary>Validates names, tensors and metadata, sorts by name and assigns contiguous byte ranges; touches no file.</summary>
    static List<(string Name, Tensor Tensor, SafetensorsDType Storage, long Begin, long End)> Plan(
        IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata, SafetensorsDType float32Storage,
        IReadOnlyDictionary<string, SafetensorsDType>? storageOf)
    {
        var named = new List<(string Name, Tensor Tensor)>();
        foreach (var (name, tensor) in tensors)
        {
            if (name is null) throw new ArgumentException("Safetensors.Save: a tensor name is null", nameof(tensors));
            if (name == SafetensorsHeader.MetadataKey)
                throw new ArgumentException($"Safetensors.Save: '{SafetensorsHeader.MetadataKey}' is reserved for metadata and cannot name a tensor", nameof(tensors));
            CheckEncodable(name, $"tensor name '{name}'");
            if (tensor is null) throw new ArgumentException($"Safetensors.Save: tensor '{name}' is null", nameof(tensors));
            named.Add((name, tensor));
        }
        if (metadata is not null)
        {
            foreach (var (key, value) in metadata)
            {
                if (key is null || value is null)
                    throw new ArgumentException($"Safetensors.Save: metadata key '{key}' has a null key or value", nameof(metadata));
                CheckEncodable(key, $"metadata key '{key}'");
                CheckEncodable(value, $"metadata value of '{key}'");
            }
        }

        named.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var planned = new List<(string, Tensor, SafetensorsDType, long, long)>(named.Count);
        long offset = 0;
        for (int i = 0; i < named.Count; i++)
        {
            var (name, tensor) = named[i];
            if (i > 0 && named[i - 1].Name == name) throw new ArgumentException($"Safetensors.Save: tensor name '{name}' appears twice", nameof(tensors));
            var storage = storageOf is not null && storageOf.TryGetValue(name, out var asked) ? Checked(name, tensor, asked)
                : tensor.DType == DType.Float32 ? float32Storage : SafetensorsDTypes.StorageOf(tensor.DType);
            long bytes = checked(tensor.Numel * storage.SizeOf());
            // Views are written from their contiguous values; Contiguous() is free for tensors that already are.
            planned.Add((name, tensor.Contiguous(), storage, offset, offset + bytes));
            offset += bytes;
        }
        return planned;
    }

    // A storage type asked for one tensor: Float32 may narrow to any float type, Int32 holding bytes may be stored as U8.
    static SafetensorsDType Checked(string name, Tensor tensor, SafetensorsDType storage)
    {
        bool allowed = (tensor.DType, storage) switch
        {
            (DType.Float32, SafetensorsDType.F32 or SafetensorsDType.F64 or SafetensorsDType.F16 or SafetensorsDType.BF16) => true,
            (DType.Int32, SafetensorsDType.U8) => tensor.Numel == 0 || (tensor.Min().Item() >= 0 && tensor.Max().Item() <= 255),
            _ => storage == SafetensorsDTypes.StorageOf(tensor.DType),
        };
        if (!allowed)
            throw new ArgumentException($"Safetensors.Save: tensor '{name}' ({tensor.DType.Name()}) cannot be stored as {storage}; "
                + "Float32 takes F32, F64, F16 or BF16, an Int32 of values 0..255 takes U8, other tensors their own type", nameof(storage));
        return storage;
    }

    static void CheckEncodable(string text, string what)
    {
        try
        {
            StrictUtf8.GetByteCount(text);
        }
        catch (EncoderFallbackException)
        {
            throw new ArgumentException($"Safetensors.Save: {what} is not valid UTF-16 (lone surrogate) and cannot be written as UTF-8");
        }
    }
}
