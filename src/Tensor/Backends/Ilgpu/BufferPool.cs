using ILGPU;
using ILGPU.Runtime;

namespace Engine.Backends.Ilgpu;

/// <summary>
/// Device buffers recycled by size class, so steady-state training allocates nothing on the device (the habit of
/// PyTorch's caching allocator). A storage hands its buffer back when the GC finalises it; buffers queued kernels
/// may still read are safe to reuse because every later use is queued behind them on the same stream.
/// The pool keeps every buffer it made reachable, so ILGPU's own finalizer never frees one behind its back;
/// memory held is the high-water mark of live tensors.
/// </summary>
internal sealed class BufferPool
{
    readonly Accelerator _accelerator;
    readonly object _gate = new();
    readonly Dictionary<(Type, long), Stack<MemoryBuffer>> _free = new();
    readonly List<MemoryBuffer> _all = new();

    internal BufferPool(Accelerator accelerator) => _accelerator = accelerator;

    /// <summary>Buffers created so far (a reuse does not count).</summary>
    internal int Created { get { lock (_gate) return _all.Count; } }

    /// <summary>
    /// Size classes: powers of two up to 2^20 elements, then whole multiples of 2^20, so a reused buffer wastes
    /// at most half of small requests and at most 2^20 elements of large ones.
    /// </summary>
    internal static long SizeClass(long length)
    {
        const long large = 1 << 20;
        if (length > large) return (length + large - 1) / large * large;
        long size = 1;
        while (size < length) size <<= 1;
        return size;
    }

    /// <summary>A buffer of at least <paramref name="length"/> elements of <typeparamref name="T"/>, reused when one is free.</summary>
    internal MemoryBuffer1D<T, Stride1D.Dense> Rent<T>(long length) where T : unmanaged
    {
        var key = (typeof(T), SizeClass(length));
        lock (_gate)
        {
            if (_free.TryGetValue(key, out var stack) && stack.Count > 0) return (MemoryBuffer1D<T, Stride1D.Dense>)stack.Pop();
            var buffer = _accelerator.Allocate1D<T>(key.Item2);
            _all.Add(buffer);
            return buffer;
        }
    }

    /// <summary>Makes a buffer available again (called from a storage's finalizer).</summary>
    internal void Return(MemoryBuffer buffer, Type elementType)
    {
        lock (_gate)
        {
            var key = (elementType, buffer.Length);
            if (!_free.TryGetValue(key, out var stack)) _free[key] = stack = new Stack<MemoryBuffer>();
            stack.Push(buffer);
        }
    }
}
