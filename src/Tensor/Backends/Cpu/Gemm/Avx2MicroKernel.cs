using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Backends.Cpu;

/// <summary>
/// AVX2 + FMA micro-kernel: the classic 6 x 16 float tile (6 x 8 for double): 12 ymm accumulators, 2 B vectors
/// and one broadcast fit the 16 architectural ymm registers of an AVX2-only CPU.
/// </summary>
internal readonly unsafe struct Avx2MicroKernel<T> : IGemmMicroKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int MR => 6;
    public static int NR => 2 * Vector256<T>.Count;
    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

    public static void Run(int kc, T* a, T* b, T* c, long ldc, T alpha, T beta, T* rowBias) => RunCore(kc, a, 1, 6, b, c, ldc, alpha, beta, rowBias);

    public static bool ReadsAInPlace => true;

    public static void RunInPlaceA(int kc, T* a, long rsA, long csA, T* b, T* c, long ldc, T alpha, T beta, T* rowBias) => RunCore(kc, a, rsA, csA, b, c, ldc, alpha, beta, rowBias);

    // One body for every source of A (see Avx512MicroKernel.RunCore): rsA 1 reads six contiguous values per k step,
    // csA apart (a packed panel or a column-major A), otherwise A's rows, rsA apart.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RunCore(int kc, T* a, long rsA, long csA, T* b, T* c, long ldc, T alpha, T beta, T* rowBias)
    {
        int w = Vector256<T>.Count;
        Vector256<T> c0_0 = default, c0_1 = default;
        Vector256<T> c1_0 = default, c1_1 = default;
        Vector256<T> c2_0 = default, c2_1 = default;
        Vector256<T> c3_0 = default, c3_1 = default;
        Vector256<T> c4_0 = default, c4_1 = default;
        Vector256<T> c5_0 = default, c5_1 = default;
        if (rsA == 1)
        {
            nint step = (nint)csA;
            for (int p = 0; p < kc; p++)
            {
                Vector256<T> b0 = Vector256.Load(b), b1 = Vector256.Load(b + w);
                var ai = Vector256.Create(a[0]);
                c0_0 = GemmSimd.Fma(ai, b0, c0_0); c0_1 = GemmSimd.Fma(ai, b1, c0_1);
                ai = Vector256.Create(a[1]);
                c1_0 = GemmSimd.Fma(ai, b0, c1_0); c1_1 = GemmSimd.Fma(ai, b1, c1_1);
                ai = Vector256.Create(a[2]);
                c2_0 = GemmSimd.Fma(ai, b0, c2_0); c2_1 = GemmSimd.Fma(ai, b1, c2_1);
                ai = Vector256.Create(a[3]);
                c3_0 = GemmSimd.Fma(ai, b0, c3_0); c3_1 = GemmSimd.Fma(ai, b1, c3_1);
                ai = Vector256.Create(a[4]);
                c4_0 = GemmSimd.Fma(ai, b0, c4_0); c4_1 = GemmSimd.Fma(ai, b1, c4_1);
                ai = Vector256.Create(a[5]);
                c5_0 = GemmSimd.Fma(ai, b0, c5_0); c5_1 = GemmSimd.Fma(ai, b1, c5_1);
                a += step;
                b += 2 * w;
            }
        }
        else
        {
            // Rows 0-2 and 3-5 at r0 and r3, plus 0, rsA and 2 rsA: base + index * scale addresses.
            nint l1 = (nint)rsA, l2 = 2 * (nint)rsA;
            T* r0 = a, r3 = a + 3 * l1;
            for (int p = 0; p < kc; p++)
            {
                Vector256<T> b0 = Vector256.Load(b), b1 = Vector256.Load(b + w);
                var ai = Vector256.Create(r0[0]);
                c0_0 = GemmSimd.Fma(ai, b0, c0_0); c0_1 = GemmSimd.Fma(ai, b1, c0_1);
                ai = Vector256.Create(r0[l1]);
                c1_0 = GemmSimd.Fma(ai, b0, c1_0); c1_1 = GemmSimd.Fma(ai, b1, c1_1);
                ai = Vector256.Create(r0[l2]);
                c2_0 = GemmSimd.Fma(ai, b0, c2_0); c2_1 = GemmSimd.Fma(ai, b1, c2_1);
                ai = Vector256.Create(r3[0]);
                c3_0 = GemmSimd.Fma(ai, b0, c3_0); c3_1 = GemmSimd.Fma(ai, b1, c3_1);
                ai = Vector256.Create(r3[l1]);
                c4_0 = GemmSimd.Fma(ai, b0, c4_0); c4_1 = GemmSimd.Fma(ai, b1, c4_1);
                ai = Vector256.Create(r3[l2]);
                c5_0 = GemmSimd.Fma(ai, b0, c5_0); c5_1 = GemmSimd.Fma(ai, b1, c5_1);
                r0++; r3++;
                b += 2 * w;
            }
        }
        var va = Vector256.Create(alpha);
        var vb = Vector256.Create(beta);
        bool readC = !T.IsZero(beta);
        GemmTileStore.Row<T, Vector256<T>, Vector256Ops<T>>(c + 0 * ldc, c0_0, c0_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector256<T>, Vector256Ops<T>>(c + 1 * ldc, c1_0, c1_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector256<T>, Vector256Ops<T>>(c + 2 * ldc, c2_0, c2_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector256<T>, Vector256Ops<T>>(c + 3 * ldc, c3_0, c3_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector256<T>, Vector256Ops<T>>(c + 4 * ldc, c4_0, c4_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector256<T>, Vector256Ops<T>>(c + 5 * ldc, c5_0, c5_1, va, vb, readC, rowBias);
    }
}
