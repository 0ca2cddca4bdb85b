namespace Engine.Backends.Cpu;

/// <summary>
/// Static partitioning of GEMM work over threads. Each thread owns a fixed range of whole tiles of C
/// and the K reduction is never split, so every element is computed by the same instruction sequence
/// whatever the thread count: results are bit-identical for 1, 2 or N threads.
/// </summary>
internal static class GemmThreading
{
    /// <summary>
    /// Multiply-adds below which another thread costs more (a hand-off to <see cref="KernelWorkers"/> is a microsecond or two)
    /// than it saves.
    /// </summary>
    private const long MinWorkPerThread = 1L << 17;

    /// <summary>How many parts to split into: at most the requested threads, the tiles, and what the work pays for.</summary>
    public static int Parts(int threads, long multiplyAdds, int tiles)
    {
        int byWork = (int)Math.Max(1, Math.Min(int.MaxValue, multiplyAdds / MinWorkPerThread));
        return Math.Max(1, Math.Min(Math.Min(threads, tiles), byWork));
    }

    /// <summary>The tile range [first, last) of part <paramref name="index"/> out of <paramref name="parts"/>.</summary>
    public static (int First, int Last) Split(int tiles, int parts, int index)
        => ((int)((long)tiles * index / parts), (int)((long)tiles * (index + 1) / parts));

    /// <summary>Runs <paramref name="body"/> for parts 0..parts-1; the calling thread takes part of the work.</summary>
    public static void For(int parts, Action<int> body)
    {
        if (parts == 1) { body(0); return; }
        KernelWorkers.For(parts, body);
    }
}
