namespace Engine.Backends.Cpu;

/// <summary>
/// How many threads the CPU kernels may use. Work is always cut into the same pieces whatever this number is,
/// so results do not depend on it.
/// </summary>
public static class CpuThreading
{
    static int _maxThreads = Environment.ProcessorCount;

    /// <summary>Upper bound on worker threads per kernel (default: the processor count).</summary>
    public static int MaxThreads
    {
        get => _maxThreads;
        set => _maxThreads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), "MaxThreads must be at least 1");
    }

    /// <summary>Below this many elements a kernel runs on the calling thread: forking costs more than it saves.</summary>
    public const long ParallelThreshold = 1 << 15;

    /// <summary>Runs body(start, end) over [0, count) in at most <see cref="MaxThreads"/> contiguous ranges.</summary>
    internal static void For(long count, long work, Action<long, long> body)
    {
        int threads = (int)Math.Min(MaxThreads, count);
        if (threads <= 1 || work < ParallelThreshold)
        {
            body(0, count);
            return;
        }
        KernelWorkers.For(threads, t =>
        {
            long start = count * t / threads, end = count * (t + 1) / threads;
            if (end > start) body(start, end);
        });
    }
}
