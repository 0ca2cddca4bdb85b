namespace Engine.Backends.Cpu;

/// <summary>
/// Recycles the large arrays of CPU storages that the garbage collector has found unreachable. A training step
/// allocates the same large tensors step after step; fresh arrays are fresh memory that the operating system maps page
/// by page on first touch (page faults took a third of a DeltaProduct training step), and large-object allocations
/// trigger full collections. An array comes back here only from the finalizer of a small object that nothing but its
/// storage references, so no tensor, view or running kernel can still reach it. Arrays are matched by element type
/// and exact length; the pool holds at most <see cref="Capacity"/> bytes and starts over when full.
/// </summary>
internal static class CpuArrayPool
{
    /// <summary>Arrays of at least this many bytes are pooled; smaller ones are cheap young-generation allocations.</summary>
    public const long MinBytes = 1 << 18;

    /// <summary>The most bytes the pool holds: a quarter of the memory the runtime may use, at most 2 GiB.</summary>
    public static readonly long Capacity = Math.Min(2L << 30, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4);

    static readonly object Gate = new();
    static readonly Dictionary<(Type, int), Stack<Array>> Free = new();
    static long _pooledBytes;

    /// <summary>Whether arrays of this many elements of this size are pooled.</summary>
    public static bool Pools(long length, int elementSize) => length * elementSize >= MinBytes;

    /// <summary>A returned array of exactly <paramref name="length"/> elements, or null. Its contents are whatever it last held.</summary>
    public static T[]? Rent<T>(int length) where T : unmanaged
    {
        lock (Gate)
        {
            if (!Free.TryGetValue((typeof(T), length), out var stack) || stack.Count == 0) return null;
            _pooledBytes -= (long)length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
            return (T[])stack.Pop();
        }
    }

    /// <summary>Takes back an array that nothing references any more.</summary>
    static void Return(Array array, int elementSize)
    {
        long bytes = array.LongLength * elementSize;
        lock (Gate)
        {
            if (_pooledBytes + bytes > Capacity)
            {
                // Full, most likely of sizes no longer in use: drop them all and let the collector have them.
                Free.Clear();
                _pooledBytes = 0;
                if (bytes > Capacity) return;
            }
            var key = (array.GetType().GetElementType()!, array.Length);
            if (!Free.TryGetValue(key, out var stack)) Free[key] = stack = new Stack<Array>();
            stack.Push(array);
            _pooledBytes += bytes;
        }
    }

    /// <summary>Bytes held now (tests).</summary>
    internal static long PooledBytes
    {
        get { lock (Gate) return _pooledBytes; }
    }

    /// <summary>
    /// Referenced only by the storage that owns <paramref name="array"/>: when the storage becomes unreachable, so does
    /// this, and its finalizer hands the array back.
    /// </summary>
    internal sealed class Returner(Array array, int elementSize)
    {
        ~Returner() => Return(array, elementSize);
    }
}
