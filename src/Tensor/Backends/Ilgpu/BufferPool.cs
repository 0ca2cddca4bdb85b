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
    readonly HashSet<MemoryBuffer> _all = new();

    internal BufferPool(Accelerator accelerator) => _accelerator = accelerator;

    /// <summary>Buffers the pool holds, in use or free.</summary>
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

    /// <summary>
    /// A buffer of at least <paramref name="length"/> elements of <typeparamref name="T"/>, reused when one is free.
    /// When the device is out of memory, unreachable tensors are collected (their buffers come back) and, failing
    /// that, every cached buffer is released before the last try.
    /// </summary>
    internal MemoryBuffer1D<T, Stride1D.Dense> Rent<T>(long length) where T : unmanaged
    {
        var key = (typeof(T), SizeClass(length));
        for (int attempt = 0; ; attempt++)
        {
            lock (_gate)
            {
                if (_free.TryGetValue(key, out var stack) && stack.Count > 0) return (MemoryBuffer1D<T, Stride1D.Dense>)stack.Pop();
                if (attempt == 2) TrimLocked();
                try
                {
                    var buffer = _accelerator.Allocate1D<T>(key.Item2);
                    _all.Add(buffer);
                    return buffer;
                }
                catch (Exception) when (attempt < 2) { } // out of device memory (the exception type differs by accelerator)
            }
            // Outside the lock: finalizers of collected storages take it to return their buffers.
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    /// <summary>Frees every cached (unused) buffer on the device, as torch.cuda.empty_cache does.</summary>
    internal void Trim()
    {
        lock (_gate) TrimLocked();
    }

    void TrimLocked()
    {
        // Kernels queued before a tensor died may still read its buffer; wait for them before freeing.
        _accelerator.Synchronize();
        foreach (var stack in _free.Values)
            while (stack.Count > 0)
            {
                var buffer = stack.Pop();
                _all.Remove(buffer);
                buffer.Dispose();
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
