namespace Engine.Backends.Cpu;

/// <summary>Storage of the CPU backend: a managed array (float[], double[], int[], long[] or bool[]).</summary>
public sealed class CpuStorage : Storage
{
    internal CpuStorage(Array data, DType dtype) : base(dtype, data.LongLength)
    {
        Data = data;
    }

    /// <summary>The managed array behind this storage.</summary>
    public Array Data { get; }

    public override IBackend Backend => CpuBackend.Instance;

    /// <summary>The array typed as <typeparamref name="T"/>; Bool storage may be read as byte.</summary>
    internal T[] Array<T>() where T : unmanaged
    {
        if (Data is T[] typed) return typed;
        if (typeof(T) == typeof(byte) && Data is bool[])
            return System.Runtime.CompilerServices.Unsafe.As<T[]>(Data); // bool and byte share layout; kernels treat masks as 0/1 bytes
        throw new InvalidOperationException($"storage holds {DType.Name()}, not {typeof(T).Name}");
    }

    internal static CpuStorage Allocate(DType dtype, long length, bool zeroed)
    {
        if (length > System.Array.MaxLength)
            throw new OutOfMemoryException($"Allocate: {length} elements of {dtype.Name()} exceed the CPU backend's limit of {System.Array.MaxLength} per tensor");
        int n = (int)length;
        Array data = dtype switch
        {
            DType.Float32 => zeroed ? new float[n] : GC.AllocateUninitializedArray<float>(n),
            DType.Float64 => zeroed ? new double[n] : GC.AllocateUninitializedArray<double>(n),
            DType.Int32 => zeroed ? new int[n] : GC.AllocateUninitializedArray<int>(n),
            DType.Int64 => zeroed ? new long[n] : GC.AllocateUninitializedArray<long>(n),
            DType.Bool => new bool[n],
            _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
        };
        return new CpuStorage(data, dtype);
    }
}
