using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Engine.Backends.Cpu;

namespace Engine.Bench.Gemm;

/// <summary>
/// The single-thread FMA ceiling: a register-only loop with 12 independent accumulator chains (more than
/// latency x throughput on current x86 cores), so the measured rate is the FMA units' throughput and nothing else.
/// </summary>
internal static class FmaPeak
{
    /// <summary>
    /// GFLOP/s of the widest FMA vectors the engine's kernels use here (this CPU's widest, unless ENGINE_ISA caps it),
    /// single thread.
    /// </summary>
    public static (double Gflops, string Width) Measure(int iterations)
    {
        if (Avx512F.IsSupported && CpuIsa.Active == IsaLevel.Avx512) return (Rate(Loop512, iterations, 12 * 16 * 2), "Vector512");
        if (Fma.IsSupported) return (Rate(Loop256, iterations, 12 * 8 * 2), "Vector256");
        return (0, "none");
    }

    /// <summary>The Vector256 ceiling, reported next to the Vector512 one (some cores split 512-bit FMAs in two).</summary>
    public static double Measure256(int iterations) => Fma.IsSupported ? Rate(Loop256, iterations, 12 * 8 * 2) : 0;

    private static double Rate(Func<int, float> loop, int iterations, double flopsPerIteration)
    {
        double seconds = Timing.MedianSeconds(() => Sink = loop(iterations), 5, 0.05);
        return flopsPerIteration * iterations / seconds / 1e9;
    }

    /// <summary>Keeps the loops' results alive so the JIT cannot drop them.</summary>
    public static float Sink;

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Loop512(int iterations)
    {
        var x = Vector512.Create(1.0000001f);
        var y = Vector512.Create(0.9999999f);
        Vector512<float> a0 = x, a1 = y, a2 = x, a3 = y, a4 = x, a5 = y, a6 = x, a7 = y, a8 = x, a9 = y, a10 = x, a11 = y;
        for (int i = 0; i < iterations; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(a0, x, y); a1 = Avx512F.FusedMultiplyAdd(a1, x, y);
            a2 = Avx512F.FusedMultiplyAdd(a2, x, y); a3 = Avx512F.FusedMultiplyAdd(a3, x, y);
            a4 = Avx512F.FusedMultiplyAdd(a4, x, y); a5 = Avx512F.FusedMultiplyAdd(a5, x, y);
            a6 = Avx512F.FusedMultiplyAdd(a6, x, y); a7 = Avx512F.FusedMultiplyAdd(a7, x, y);
            a8 = Avx512F.FusedMultiplyAdd(a8, x, y); a9 = Avx512F.FusedMultiplyAdd(a9, x, y);
            a10 = Avx512F.FusedMultiplyAdd(a10, x, y); a11 = Avx512F.FusedMultiplyAdd(a11, x, y);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Loop256(int iterations)
    {
        var x = Vector256.Create(1.0000001f);
        var y = Vector256.Create(0.9999999f);
        Vector256<float> a0 = x, a1 = y, a2 = x, a3 = y, a4 = x, a5 = y, a6 = x, a7 = y, a8 = x, a9 = y, a10 = x, a11 = y;
        for (int i = 0; i < iterations; i++)
        {
            a0 = Fma.MultiplyAdd(a0, x, y); a1 = Fma.MultiplyAdd(a1, x, y);
            a2 = Fma.MultiplyAdd(a2, x, y); a3 = Fma.MultiplyAdd(a3, x, y);
            a4 = Fma.MultiplyAdd(a4, x, y); a5 = Fma.MultiplyAdd(a5, x, y);
            a6 = Fma.MultiplyAdd(a6, x, y); a7 = Fma.MultiplyAdd(a7, x, y);
            a8 = Fma.MultiplyAdd(a8, x, y); a9 = Fma.MultiplyAdd(a9, x, y);
            a10 = Fma.MultiplyAdd(a10, x, y); a11 = Fma.MultiplyAdd(a11, x, y);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }
}
