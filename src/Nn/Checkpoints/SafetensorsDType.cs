namespace Engine.Nn.Checkpoints;

/// <summary>
/// Storage types the writer can put in a safetensors file, named as in the Hugging Face format.
/// Example: <c>Safetensors.Save("w.safetensors", tensors, storeFloat32As: SafetensorsDType.BF16);</c>
/// </summary>
public enum SafetensorsDType
{
    /// <summary>IEEE binary32.</summary>
    F32,
    /// <summary>IEEE binary64.</summary>
    F64,
    /// <summary>IEEE binary16; read back into Float32 tensors.</summary>
    F16,
    /// <summary>bfloat16 (the upper 16 bits of a binary32); read back into Float32 tensors.</summary>
    BF16,
    /// <summary>32-bit signed integer.</summary>
    I32,
    /// <summary>64-bit signed integer.</summary>
    I64,
    /// <summary>One byte per element, 0 or 1.</summary>
    BOOL,
    /// <summary>Unsigned byte, written from an Int32 tensor whose values are 0..255 (packed bits); read back as Int32.</summary>
    U8,
}

/// <summary>Facts about the dtype strings of the format: which are readable, their element size and the engine dtype they load as.</summary>
internal static class SafetensorsDTypes
{
    /// <summary>The header string of a storage type (<c>"F32"</c>, <c>"BOOL"</c>, ...).</summary>
    public static string Name(this SafetensorsDType dtype) => dtype.ToString();

    /// <summary>Bytes per element of a storage type.</summary>
    public static int SizeOf(this SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F32 or SafetensorsDType.I32 => 4,
        SafetensorsDType.F64 or SafetensorsDType.I64 => 8,
        SafetensorsDType.F16 or SafetensorsDType.BF16 => 2,
        SafetensorsDType.BOOL or SafetensorsDType.U8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The storage type an engine tensor is written as by default (each engine dtype has an exact one).</summary>
    public static SafetensorsDType StorageOf(DType dtype) => dtype switch
    {
        DType.Float32 => SafetensorsDType.F32,
        DType.Float64 => SafetensorsDType.F64,
        DType.Int32 => SafetensorsDType.I32,
        DType.Int64 => SafetensorsDType.I64,
        DType.Bool => SafetensorsDType.BOOL,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>Every dtype string the reader accepts, with its element size and the engine dtype it loads as.
    /// Half types widen exactly to Float32; small integers widen exactly to Int32.</summary>
    static readonly Dictionary<string, (int Size, DType Loaded)> Readable = new(StringComparer.Ordinal)
    {
        ["F32"] = (4, DType.Float32),
        ["F64"] = (8, DType.Float64),
        ["F16"] = (2, DType.Float32),
        ["BF16"] = (2, DType.Float32),
        ["I32"] = (4, DType.Int32),
        ["I64"] = (8, DType.Int64),
        ["BOOL"] = (1, DType.Bool),
        ["U8"] = (1, DType.Int32),
        ["I8"] = (1, DType.Int32),
        ["I16"] = (2, DType.Int32),
        ["U16"] = (2, DType.Int32),
    };

    /// <summary>Comma-separated list of readable dtype strings, for error messages.</summary>
    public static string ReadableList => string.Join(", ", Readable.Keys);

    /// <summary>Looks up a dtype string from a header.</summary>
    public static bool TryGetReadable(string name, out int size, out DType loaded)
    {
        bool found = Readable.TryGetValue(name, out var facts);
        (size, loaded) = facts;
        return found;
    }
}
