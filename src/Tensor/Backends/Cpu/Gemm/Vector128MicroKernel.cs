using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Backends.Cpu;

/// <summary>
/// Portable fallback micro-kernel on Vector128 (SSE, NEON, or software): 6 x 8 float tile (6 x 4 for double).
/// Used where neither AVX-512 nor AVX2+FMA exists; correctness first, still register-tiled.
/// </summary>
internal readonly unsafe struct Vector128MicroKernel<T> : IGemmMicroKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int MR => 6;
    public static int NR => 2 * Vector128<T>.Count;
    public static bool IsSupported => true;

    public static bool ReadsAInPlace => false;

    public static void RunInPlaceA(int kc, T* a, long rsA, long csA, T* b, T* c, long ldc, T alpha, T beta, T* rowBias) =>
        throw new NotSupportedException("Vector128MicroKernel reads packed A panels only");

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, T* a, T* b, T* c, long ldc, T alpha, T beta, T* rowBias)
    {
        int w = Vector128<T>.Count;
        Vector128<T> c0_0 = default, c0_1 = default;
        Vector128<T> c1_0 = default, c1_1 = default;
        Vector128<T> c2_0 = default, c2_1 = default;
        Vector128<T> c3_0 = default, c3_1 = default;
        Vector128<T> c4_0 = default, c4_1 = default;
        Vector128<T> c5_0 = default, c5_1 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector128<T> b0 = Vector128.Load(b), b1 = Vector128.Load(b + w);
            var ai = Vector128.Create(a[0]);
            c0_0 = GemmSimd.Fma(ai, b0, c0_0); c0_1 = GemmSimd.Fma(ai, b1, c0_1);
            ai = Vector128.Create(a[1]);
            c1_0 = GemmSimd.Fma(ai, b0, c1_0); c1_1 = GemmSimd.Fma(ai, b1, c1_1);
            ai = Vector128.Create(a[2]);
            c2_0 = GemmSimd.Fma(ai, b0, c2_0); c2_1 = GemmSimd.Fma(ai, b1, c2_1);
            ai = Vector128.Create(a[3]);
            c3_0 = GemmSimd.Fma(ai, b0, c3_0); c3_1 = GemmSimd.Fma(ai, b1, c3_1);
            ai = Vector128.Create(a[4]);
            c4_0 = GemmSimd.Fma(ai, b0, c4_0); c4_1 = GemmSimd.Fma(ai, b1, c4_1);
            ai = Vector128.Create(a[5]);
            c5_0 = GemmSimd.Fma(ai, b0, c5_0); c5_1 = GemmSimd.Fma(ai, b1, c5_1);
            a += 6;
            b += 2 * w;
        }
        var va = Vector128.Create(alpha);
        var vb = Vector128.Create(beta);
        bool readC = !T.IsZero(beta);
        GemmTileStore.Row<T, Vector128<T>, Vector128Ops<T>>(c + 0 * ldc, c0_0, c0_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector128<T>, Vector128Ops<T>>(c + 1 * ldc, c1_0, c1_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector128<T>, Vector128Ops<T>>(c + 2 * ldc, c2_0, c2_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector128<T>, Vector128Ops<T>>(c + 3 * ldc, c3_0, c3_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector128<T>, Vector128Ops<T>>(c + 4 * ldc, c4_0, c4_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector128<T>, Vector128Ops<T>>(c + 5 * ldc, c5_0, c5_1, va, vb, readC, rowBias);
    }
}
