namespace Engine.Backends.Cpu;

/// <summary>
/// Recycles the large arrays of CPU storages that the garbage collector has found unreachable. A training step
/// allocates the same large tensors step after step; fresh arrays are fresh memory that the operating system maps page
/// by page on first touch (page faults took a third of a DeltaProduct training step), and large-object allocations
/// trigger full collections. An array comes back here only from the finalizer of a small object that nothing but its
/// storage references, so no tensor, view or running kernel can still reach it. Arrays are matched by element type
/// and exact length; the pool holds at most <see cref="Capacity"/> bytes and, when full, makes room by dropping arrays
/// of other lengths.
/// Returned arrays survive a collection they would otherwise die in, which teaches the collector to collect the large
/// object heap less often, so dead storages would pile up unfinalized while fresh arrays keep the heap growing. So
/// after <see cref="CollectAfterBytes"/> of fresh pooled-size arrays without any coming back, the pool runs a
/// collection itself and waits for the finalizers that return the dead storages' arrays.
/// </summary>
public static class CpuArrayPool
{
    /// <summary>Arrays of at least this many bytes are pooled; smaller ones are cheap young-generation allocations.</summary>
    public const long MinBytes = 1 << 18;

    /// <summary>Arrays of more bytes than this are left to the collector, which reuses their space well on its own.</summary>
    public const long MaxBytes = 16L << 20;

    /// <summary>
    /// The most bytes the pool holds: the environment variable ENGINE_CPU_POOL_MB when set (0 turns recycling off),
    /// else an eighth of the memory the runtime may use, at most 512 MiB. The pool trades memory for speed: the adapter
    /// bench's peak working set roughly doubles with the default (README), while DeltaProduct training runs about 1.4x
    /// faster.
    /// </summary>
    public static long Capacity
    {
        get => Volatile.Read(ref _capacity);
        set => Volatile.Write(ref _capacity, value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), $"CpuArrayPool.Capacity must be non-negative, got {value}"));
    }

    static long _capacity = TryParseMegabytes(Environment.GetEnvironmentVariable(EnvironmentVariable), out long bytes)
        ? bytes
        : Math.Min(512L << 20, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 8);

    /// <summary>The environment variable that sets <see cref="Capacity"/> in megabytes.</summary>
    public const string EnvironmentVariable = "ENGINE_CPU_POOL_MB";

    /// <summary>
    /// Reads a value of <see cref="EnvironmentVariable"/>: a whole number of megabytes, 0 or more. False for anything
    /// else (then the default capacity applies; the engine command refuses to start with such a value).
    /// </summary>
    public static bool TryParseMegabytes(string? text, out long bytes)
    {
        bool valid = long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingWhite | System.Globalization.NumberStyles.AllowTrailingWhite, System.Globalization.CultureInfo.InvariantCulture, out long megabytes)
            && megabytes <= long.MaxValue >> 20;
        bytes = valid ? megabytes << 20 : 0;
        return valid;
    }

    /// <summary>Fresh bytes allocated without an array coming back, after which the pool collects (see above).</summary>
    public const long CollectAfterBytes = 128L << 20;

    // Free arrays by (element type, length), their total bytes, and fresh bytes since one last came back; under Gate.
    static readonly object Gate = new();
    static readonly Dictionary<(Type, int), Stack<Array>> Free = new();
    static long _pooledBytes, _missedBytes;

    /// <summary>Whether arrays of this many elements of this size are pooled.</summary>
    public static bool Pools(long length, int elementSize) => length * elementSize is >= MinBytes and <= MaxBytes && Capacity > 0;

    /// <summary>A returned array of exactly <paramref name="length"/> elements, or null. Its contents are whatever it last held.</summary>
    internal static T[]? Rent<T>(int length) where T : unmanaged
    {
        long bytes = (long)length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (TryTake<T>(length, bytes) is { } array) return array;
        bool collect;
        lock (Gate)
        {
            _missedBytes += bytes;
            collect = _missedBytes > CollectAfterBytes;
            if (collect) _missedBytes = 0;
        }
        if (!collect) return null;
        // Outside the lock: the finalizers that run now call Return.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return TryTake<T>(length, bytes);
    }

    static T[]? TryTake<T>(int length, long bytes) where T : unmanaged
    {
        lock (Gate)
        {
            if (!Free.TryGetValue((typeof(T), length), out var stack) || stack.Count == 0) return null;
            _pooledBytes -= bytes;
            return (T[])stack.Pop();
        }
    }

    /// <summary>Takes back an array that nothing references any more.</summary>
    static void Return(Array array, int elementSize)
    {
        long bytes = array.LongLength * elementSize;
        lock (Gate)
        {
            if (bytes > Capacity) return;
            var key = (array.GetType().GetElementType()!, array.Length);
            // Full: make room by dropping arrays of other lengths, else drop this one.
            while (_pooledBytes + bytes > Capacity && EvictOtherThan(key)) { }
            if (_pooledBytes + bytes > Capacity) return;
            if (!Free.TryGetValue(key, out var stack)) Free[key] = stack = new Stack<Array>();
            stack.Push(array);
            _pooledBytes += bytes;
            _missedBytes = 0;
        }
    }

    // Drops one array of a length other than `key`'s to the collector; false when there is none.
    static bool EvictOtherThan((Type, int) key)
    {
        foreach (var (other, stack) in Free)
        {
            if (other == key || stack.Count == 0) continue;
            var dropped = stack.Pop();
            _pooledBytes -= dropped.LongLength * System.Runtime.InteropServices.Marshal.SizeOf(other.Item1);
            return true;
        }
        return false;
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
