using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;

namespace Engine.Pretrained.Onnx;

/// <summary>
/// An ONNX <c>TensorProto</c> (an initializer or a Constant's value) whose bytes still lie in the file's buffer:
/// its name, dims and element type; <see cref="ToTensor"/> copies it into an engine tensor.
/// </summary>
public sealed class OnnxTensor
{
    // onnx.proto TensorProto.DataType values the engine reads.
    internal const int Float = 1, Int32 = 6, Int64 = 7, Double = 11;

    readonly ArraySegment<byte> _raw;
    readonly List<ProtoField> _typed;

    OnnxTensor(string name, long[] dims, int dataType, ArraySegment<byte> raw, List<ProtoField> typed, bool external)
    {
        Name = name; Dims = dims; DataType = dataType; _raw = raw; _typed = typed; External = external;
    }

    /// <summary>The tensor's name in the graph ("" for a Constant's value).</summary>
    public string Name { get; }

    /// <summary>The shape.</summary>
    public long[] Dims { get; }

    /// <summary>onnx.proto's TensorProto.DataType (1 float, 6 int32, 7 int64, 11 double).</summary>
    public int DataType { get; }

    /// <summary>True when the data lives in a separate file (external data), which the engine does not read.</summary>
    public bool External { get; }

    internal static OnnxTensor Parse(ArraySegment<byte> message)
    {
        var dims = new List<long>();
        string name = "";
        int dataType = 0;
        ArraySegment<byte> raw = default;
        var typed = new List<ProtoField>();
        bool external = false;
        foreach (var f in ProtoFields.Read(message))
            switch (f.Number)
            {
                case 1: ProtoFields.AddVarints(f, dims); break;
                case 2: dataType = (int)f.Value; break;
                case 4 or 5 or 7 or 10: typed.Add(f); break;
                case 8: name = ProtoFields.String(f); break;
                case 9: raw = f.Bytes; break;
                case 13: external = true; break;
                case 14: external |= f.Value == 1; break;
            }
        return new OnnxTensor(name, dims.ToArray(), dataType, raw, typed, external);
    }

    /// <summary>
    /// The tensor as an engine tensor: float and double as Float32 (the engine's weights), int32 and int64 as Int64.
    /// </summary>
    /// <exception cref="InvalidDataException">External data, an unsupported type, or data whose length does not match the dims.</exception>
    public Tensor ToTensor(string file)
    {
        if (External) throw new InvalidDataException($"Onnx: tensor '{Name}' in '{file}' keeps its data in an external file, which the engine does not read");
        if (Dims.Any(d => d < 0 || d > int.MaxValue)) throw new InvalidDataException($"Onnx: tensor '{Name}' in '{file}' has dims [{string.Join(", ", Dims)}]");
        int[] shape = Dims.Select(d => (int)d).ToArray();
        long count = 1;
        foreach (var d in shape) count = checked(count * d);
        return DataType switch
        {
            Float => Tensor.FromArray(Floats(count, file), shape),
            Double => Tensor.FromArray(Doubles(count, file).Select(v => (float)v).ToArray(), shape),
            Int64 or Int32 => Tensor.FromArray(Integers(count, file), shape),
            _ => throw new InvalidDataException($"Onnx: tensor '{Name}' in '{file}' has data type {DataType}; the engine reads float (1), double (11), int32 (6) and int64 (7)"),
        };
    }

    float[] Floats(long count, string file)
    {
        if (_raw.Count > 0 || _typed.Count == 0)
        {
            CheckLength(_raw.Count, count * 4, file);
            var values = new float[count];
            MemoryMarshal.Cast<byte, float>(_raw.AsSpan()).CopyTo(values); // ONNX raw data is little-endian, as is every .NET target
            return values;
        }
        var all = new List<float>();
        foreach (var f in _typed)
        {
            if (f.WireType == WireFormat.WireType.Fixed32) { all.Add(BitConverter.UInt32BitsToSingle((uint)f.Value)); continue; }
            for (int i = 0; i + 4 <= f.Bytes.Count; i += 4) all.Add(BinaryPrimitives.ReadSingleLittleEndian(f.Bytes.AsSpan(i)));
        }
        CheckLength(all.Count * 4L, count * 4, file);
        return all.ToArray();
    }

    double[] Doubles(long count, string file)
    {
        if (_raw.Count > 0 || _typed.Count == 0)
        {
            CheckLength(_raw.Count, count * 8, file);
            return MemoryMarshal.Cast<byte, double>(_raw.AsSpan()).ToArray();
        }
        var all = new List<double>();
        foreach (var f in _typed)
        {
            if (f.WireType == WireFormat.WireType.Fixed64) { all.Add(BitConverter.UInt64BitsToDouble(f.Value)); continue; }
            for (int i = 0; i + 8 <= f.Bytes.Count; i += 8) all.Add(BinaryPrimitives.ReadDoubleLittleEndian(f.Bytes.AsSpan(i)));
        }
        CheckLength(all.Count * 8L, count * 8, file);
        return all.ToArray();
    }

    long[] Integers(long count, string file)
    {
        int size = DataType == Int64 ? 8 : 4;
        if (_raw.Count > 0 || _typed.Count == 0)
        {
            CheckLength(_raw.Count, count * size, file);
            var span = _raw.AsSpan();
            var values = new long[count];
            for (int i = 0; i < values.Length; i++)
                values[i] = size == 8 ? BinaryPrimitives.ReadInt64LittleEndian(span[(i * 8)..]) : BinaryPrimitives.ReadInt32LittleEndian(span[(i * 4)..]);
            return values;
        }
        var all = new List<long>();
        foreach (var f in _typed) ProtoFields.AddVarints(f, all);
        CheckLength(all.Count * (long)size, count * size, file);
        return all.ToArray();
    }

    void CheckLength(long actual, long expected, string file)
    {
        if (actual != expected)
            throw new InvalidDataException($"Onnx: tensor '{Name}' in '{file}' holds {actual} bytes of data; dims [{string.Join(", ", Dims)}] need {expected}");
    }
}
