using System.Runtime.InteropServices;

namespace Engine.Nn.Checkpoints;

/// <summary>
/// Converts between stored little-endian elements and engine tensors: exact widening on read (F16/BF16 to Float32,
/// small integers to Int32), and on write the tensor's own type or, for Float32, the storage type the caller asked for.
/// Assumes a little-endian host, which <see cref="SafetensorsFile"/> checks.
/// </summary>
internal static class SafetensorsElementCodec
{
    /// <summary>Elements converted per chunk when writing through a conversion, so a huge tensor needs no second full-size buffer.</summary>
    const int ChunkElements = 1 << 16;

    /// <summary>Fills a span with the file's bytes from a position (throwing if the file no longer has them).</summary>
    public delegate void ByteReader(Span<byte> destination, long position, SafetensorsTensorInfo info);

    /// <summary>Copies one tensor's elements out of the file through <paramref name="view"/>.</summary>
    public static Tensor Decode(ByteReader view, SafetensorsTensorInfo info)
    {
        if (info.Numel > Array.MaxLength)
            throw new NotSupportedException($"tensor '{info.Name}' has {info.Numel} elements, more than one engine tensor can hold ({Array.MaxLength})");
        int n = (int)info.Numel;
        int[] shape = [.. info.Shape];
        long at = info.FileOffset;
        switch (info.DType)
        {
            case "F32": return Tensor.FromArray(Read<float>(view, at, n, info), shape);
            case "F64": return Tensor.FromArray(Read<double>(view, at, n, info), shape);
            case "I32": return Tensor.FromArray(Read<int>(view, at, n, info), shape);
            case "I64": return Tensor.FromArray(Read<long>(view, at, n, info), shape);
            case "BOOL": return Tensor.FromArray(Array.ConvertAll(Read<byte>(view, at, n, info), b => b != 0), shape);
            case "F16": return Tensor.FromArray(Array.ConvertAll(Read<ushort>(view, at, n, info), HalfPrecision.HalfBitsToFloat), shape);
            case "BF16": return Tensor.FromArray(Array.ConvertAll(Read<ushort>(view, at, n, info), HalfPrecision.BFloat16BitsToFloat), shape);
            case "U8": return Tensor.FromArray(Array.ConvertAll(Read<byte>(view, at, n, info), v => (int)v), shape);
            case "I8": return Tensor.FromArray(Array.ConvertAll(Read<sbyte>(view, at, n, info), v => (int)v), shape);
            case "I16": return Tensor.FromArray(Array.ConvertAll(Read<short>(view, at, n, info), v => (int)v), shape);
            case "U16": return Tensor.FromArray(Array.ConvertAll(Read<ushort>(view, at, n, info), v => (int)v), shape);
            default: throw new InvalidOperationException($"tensor '{info.Name}': no decoder for validated dtype '{info.DType}'");
        }
    }

    // In chunks of at most 1 GiB, so a span of bytes never exceeds int.MaxValue whatever the element count.
    static T[] Read<T>(ByteReader view, long position, int count, SafetensorsTensorInfo info) where T : unmanaged
    {
        var values = new T[count];
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), chunk = (1 << 30) / size;
        for (int start = 0; start < count; start += chunk)
        {
            int length = Math.Min(chunk, count - start);
            view(MemoryMarshal.AsBytes(values.AsSpan(start, length)), position + (long)start * size, info);
        }
        return values;
    }

    /// <summary>Writes a tensor's elements row-major in <paramref name="storage"/> (which the caller has checked is allowed).</summary>
    public static void Encode(Tensor tensor, SafetensorsDType storage, Stream output)
    {
        switch (tensor.DType, storage)
        {
            case (DType.Float32, SafetensorsDType.F32): WriteRaw(tensor.ToArray<float>(), output); break;
            case (DType.Float64, SafetensorsDType.F64): WriteRaw(tensor.ToArray<double>(), output); break;
            case (DType.Int32, SafetensorsDType.I32): WriteRaw(tensor.ToArray<int>(), output); break;
            case (DType.Int64, SafetensorsDType.I64): WriteRaw(tensor.ToArray<long>(), output); break;
            case (DType.Bool, SafetensorsDType.BOOL): WriteRaw(Array.ConvertAll(tensor.ToArray<bool>(), b => b ? (byte)1 : (byte)0), output); break;
            case (DType.Int32, SafetensorsDType.U8): WriteRaw(Array.ConvertAll(tensor.ToArray<int>(), v => checked((byte)v)), output); break;
            case (DType.Float32, SafetensorsDType.F64): WriteConverted(tensor.ToArray<float>(), v => (double)v, output); break;
            case (DType.Float32, SafetensorsDType.F16): WriteConverted(tensor.ToArray<float>(), HalfPrecision.FloatToHalfBits, output); break;
            case (DType.Float32, SafetensorsDType.BF16): WriteConverted(tensor.ToArray<float>(), HalfPrecision.FloatToBFloat16Bits, output); break;
            default: throw new InvalidOperationException($"no encoder from {tensor.DType.Name()} to {storage}");
        }
    }

    static void WriteRaw<T>(T[] values, Stream output) where T : unmanaged => output.Write(MemoryMarshal.AsBytes(values.AsSpan()));

    static void WriteConverted<TIn, TOut>(TIn[] values, Func<TIn, TOut> convert, Stream output) where TOut : unmanaged
    {
        var chunk = new TOut[Math.Min(values.Length, ChunkElements)];
        for (int start = 0; start < values.Length; start += chunk.Length)
        {
            int count = Math.Min(chunk.Length, values.Length - start);
            for (int i = 0; i < count; i++) chunk[i] = convert(values[start + i]);
            output.Write(MemoryMarshal.AsBytes(chunk.AsSpan(0, count)));
        }
    }
}
