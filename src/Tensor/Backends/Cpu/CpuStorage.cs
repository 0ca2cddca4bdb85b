namespace Engine.Backends.Cpu;

/// <summary>Storage of the CPU backend: a managed array (float[], double[], int[], long[] or bool[]).</summary>
public sealed class CpuStorage : Storage
{
    internal CpuStorage(Array data, DType dtype, bool pooled = false) : base(dtype, data.LongLength)
    {
        Data = data;
        if (pooled) _returner = new CpuArrayPool.Returner(data, dtype.SizeOf());
    }

    // Hands a large array back to CpuArrayPool once this storage is unreachable (see there).
    readonly CpuArrayPool.Returner? _returner;

    /// <summary>
    /// The managed array behind this storage. Valid while the storage is reachable: a large array is reused for other
    /// tensors once its storage has been collected, so keep the storage (or a tensor on it), not just the array.
    /// </summary>
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
        TensorLimits.CheckAllocation("Allocate", [(int)Math.Min(length, int.MaxValue)], dtype, length);
        int n = (int)length;
        Array data = dtype switch
        {
            DType.Float32 => Allocate<float>(n, zeroed),
            DType.Float64 => Allocate<double>(n, zeroed),
            DType.Int32 => Allocate<int>(n, zeroed),
            DType.Int64 => Allocate<long>(n, zeroed),
            DType.Bool => new bool[n],
            _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
        };
        return new CpuStorage(data, dtype, pooled: dtype != DType.Bool && CpuArrayPool.Pools(n, dtype.SizeOf()));
    }

    // A recycled array when the pool has one of this length (cleared if asked), else a new one.
    static T[] Allocate<T>(int n, bool zeroed) where T : unmanaged
    {
        if (CpuArrayPool.Pools(n, System.Runtime.CompilerServices.Unsafe.SizeOf<T>()) && CpuArrayPool.Rent<T>(n) is { } recycled)
        {
            if (zeroed) System.Array.Clear(recycled);
            return recycled;
        }
        return zeroed ? new T[n] : GC.AllocateUninitializedArray<T>(n);
    }
}
