namespace Engine.Nn.Checkpoints;

/// <summary>
/// One entry of a safetensors header, validated: where a tensor's bytes lie and how to read them.
/// Example: <c>var info = file.Info("wte.weight"); Console.WriteLine($"{info.DType} {string.Join(',', info.Shape)}");</c>
/// </summary>
public sealed class SafetensorsTensorInfo
{
    internal SafetensorsTensorInfo(string name, string dtype, int elementSize, DType loadedAs, int[] shape, long numel, long dataBegin, long dataEnd, long dataStart)
    {
        Name = name;
        DType = dtype;
        ElementSize = elementSize;
        LoadedAs = loadedAs;
        Shape = shape;
        Numel = numel;
        DataBegin = dataBegin;
        DataEnd = dataEnd;
        FileOffset = dataStart + dataBegin;
    }

    /// <summary>The tensor's name in the file.</summary>
    public string Name { get; }

    /// <summary>The dtype string as stored (<c>"F32"</c>, <c>"BF16"</c>, <c>"U8"</c>, ...).</summary>
    public string DType { get; }

    /// <summary>True for the floating dtypes a parameter may be stored in (F32, F64, F16, BF16).</summary>
    public bool IsFloatingPoint => DType is "F32" or "F64" or "F16" or "BF16";

    /// <summary>Bytes per stored element.</summary>
    public int ElementSize { get; }

    /// <summary>The engine dtype <see cref="SafetensorsFile.Read"/> returns (F16/BF16 widen to Float32, small integers to Int32).</summary>
    public DType LoadedAs { get; }

    /// <summary>Size of each dimension (empty for a scalar).</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>Number of elements.</summary>
    public long Numel { get; }

    /// <summary>Start of the data, relative to the first byte after the header (the file's <c>data_offsets[0]</c>).</summary>
    public long DataBegin { get; }

    /// <summary>End (exclusive) of the data, relative to the first byte after the header (<c>data_offsets[1]</c>).</summary>
    public long DataEnd { get; }

    /// <summary>Number of data bytes.</summary>
    public long ByteLength => DataEnd - DataBegin;

    /// <summary>Absolute position of the first data byte in the file.</summary>
    public long FileOffset { get; }
}
