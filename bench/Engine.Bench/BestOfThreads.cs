using System.Globalization;
using Engine.Backends.Cpu;

namespace Engine.Bench;

/// <summary>
/// Each side of a comparison runs at 1 thread and at all cores and is credited with its better figure, so neither
/// side wins by a thread count that suits it (small problems often run faster on one thread than on many).
/// </summary>
internal static class BestOfThreads
{
    /// <summary>1 and <see cref="Environment.ProcessorCount"/> (just 1 on a single-core machine).</summary>
    public static int[] Counts { get; } = Environment.ProcessorCount > 1 ? [1, Environment.ProcessorCount] : [1];

    /// <summary>Runs <paramref name="measure"/> with the engine's kernels capped at <paramref name="threads"/> threads.</summary>
    public static TResult WithEngineThreads<TResult>(int threads, Func<TResult> measure)
    {
        int before = CpuThreading.MaxThreads;
        CpuThreading.MaxThreads = threads;
        try { return measure(); }
        finally { CpuThreading.MaxThreads = before; }
    }

    /// <summary>The largest value (a rate) and the thread count that gave it.</summary>
    public static Best Highest(IEnumerable<(int Threads, double Value)> runs) => runs.Select(r => new Best(r.Value, r.Threads)).MaxBy(b => b.Value);

    /// <summary>The smallest value (a time) and the thread count that gave it.</summary>
    public static Best Lowest(IEnumerable<(int Threads, double Value)> runs) => runs.Select(r => new Best(r.Value, r.Threads)).MinBy(b => b.Value);
}

/// <summary>A figure and the thread count that gave it.</summary>
internal readonly record struct Best(double Value, int Threads)
{
    /// <summary>"123.4 (2)": the value in <paramref name="format"/>, then the winning thread count.</summary>
    public string Format(string format, string unit = "") =>
        Value.ToString(format, CultureInfo.InvariantCulture) + unit + $" ({Threads})";
}
