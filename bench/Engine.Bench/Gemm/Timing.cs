using System.Diagnostics;

namespace Engine.Bench.Gemm;

/// <summary>Warm-up, then the median of several timed repetitions, each long enough to swamp timer noise.</summary>
internal static class Timing
{
    /// <summary>Set lower by --quick.</summary>
    public static double WarmUpSeconds { get; set; } = 0.25;

    /// <summary>Median seconds per call of <paramref name="run"/>.</summary>
    public static double MedianSeconds(Action run, int repetitions, double minRepetitionSeconds)
    {
        // Warm-up long enough for tiered JIT to promote the callers (and library code such as
        // TensorPrimitives) to optimised code, and for page faults and packing buffers to settle.
        var clock = Stopwatch.StartNew();
        int warmCalls = 0;
        do { run(); warmCalls++; } while (clock.Elapsed.TotalSeconds < WarmUpSeconds || warmCalls < 2);
        clock.Restart();
        run();
        double once = Math.Max(clock.Elapsed.TotalSeconds, 1e-7);
        int calls = (int)Math.Clamp(Math.Ceiling(minRepetitionSeconds / once), 1, 1_000_000);
        var samples = new double[repetitions];
        for (int r = 0; r < repetitions; r++)
        {
            clock.Restart();
            for (int i = 0; i < calls; i++) run();
            samples[r] = clock.Elapsed.TotalSeconds / calls;
        }
        Array.Sort(samples);
        return samples[repetitions / 2];
    }
}
