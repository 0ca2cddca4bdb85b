using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Backends.Cpu;

/// <summary>
/// AVX-512 micro-kernel: a 14 x (2 x 16) float tile (14 x 16 for double) held in 28 of the 32 zmm registers,
/// which leaves room for the two B vectors and keeps the ratio of FMAs to loads high (28 FMAs per 2 loads
/// and 14 broadcasts per k step).
/// </summary>
internal readonly unsafe struct Avx512MicroKernel<T> : IGemmMicroKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int MR => 14;
    public static int NR => 2 * Vector512<T>.Count;
    public static bool IsSupported => Avx512F.IsSupported;

    public static void Run(int kc, T* a, T* b, T* c, long ldc, T alpha, T beta, T* rowBias) => RunCore(kc, a, 1, 14, b, c, ldc, alpha, beta, rowBias);

    public static bool ReadsAInPlace => true;

    public static void RunInPlaceA(int kc, T* a, long rsA, long csA, T* b, T* c, long ldc, T alpha, T beta, T* rowBias) => RunCore(kc, a, rsA, csA, b, c, ldc, alpha, beta, rowBias);

    // One body for every source of A, so the tile's accumulators and stores are written once: rsA 1 reads 14
    // contiguous values per k step, csA apart (a packed panel, or a column-major A), otherwise A's own rows, rsA apart.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RunCore(int kc, T* a, long rsA, long csA, T* b, T* c, long ldc, T alpha, T beta, T* rowBias)
    {
        int w = Vector512<T>.Count;
        Vector512<T> c0_0 = default, c0_1 = default;
        Vector512<T> c1_0 = default, c1_1 = default;
        Vector512<T> c2_0 = default, c2_1 = default;
        Vector512<T> c3_0 = default, c3_1 = default;
        Vector512<T> c4_0 = default, c4_1 = default;
        Vector512<T> c5_0 = default, c5_1 = default;
        Vector512<T> c6_0 = default, c6_1 = default;
        Vector512<T> c7_0 = default, c7_1 = default;
        Vector512<T> c8_0 = default, c8_1 = default;
        Vector512<T> c9_0 = default, c9_1 = default;
        Vector512<T> c10_0 = default, c10_1 = default;
        Vector512<T> c11_0 = default, c11_1 = default;
        Vector512<T> c12_0 = default, c12_1 = default;
        Vector512<T> c13_0 = default, c13_1 = default;
        if (rsA == 1)
        {
            nint step = (nint)csA;
            for (int p = 0; p < kc; p++)
            {
                Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + w);
                var ai = Vector512.Create(a[0]);
                c0_0 = GemmSimd.Fma(ai, b0, c0_0); c0_1 = GemmSimd.Fma(ai, b1, c0_1);
                ai = Vector512.Create(a[1]);
                c1_0 = GemmSimd.Fma(ai, b0, c1_0); c1_1 = GemmSimd.Fma(ai, b1, c1_1);
                ai = Vector512.Create(a[2]);
                c2_0 = GemmSimd.Fma(ai, b0, c2_0); c2_1 = GemmSimd.Fma(ai, b1, c2_1);
                ai = Vector512.Create(a[3]);
                c3_0 = GemmSimd.Fma(ai, b0, c3_0); c3_1 = GemmSimd.Fma(ai, b1, c3_1);
                ai = Vector512.Create(a[4]);
                c4_0 = GemmSimd.Fma(ai, b0, c4_0); c4_1 = GemmSimd.Fma(ai, b1, c4_1);
                ai = Vector512.Create(a[5]);
                c5_0 = GemmSimd.Fma(ai, b0, c5_0); c5_1 = GemmSimd.Fma(ai, b1, c5_1);
                ai = Vector512.Create(a[6]);
                c6_0 = GemmSimd.Fma(ai, b0, c6_0); c6_1 = GemmSimd.Fma(ai, b1, c6_1);
                ai = Vector512.Create(a[7]);
                c7_0 = GemmSimd.Fma(ai, b0, c7_0); c7_1 = GemmSimd.Fma(ai, b1, c7_1);
                ai = Vector512.Create(a[8]);
                c8_0 = GemmSimd.Fma(ai, b0, c8_0); c8_1 = GemmSimd.Fma(ai, b1, c8_1);
                ai = Vector512.Create(a[9]);
                c9_0 = GemmSimd.Fma(ai, b0, c9_0); c9_1 = GemmSimd.Fma(ai, b1, c9_1);
                ai = Vector512.Create(a[10]);
                c10_0 = GemmSimd.Fma(ai, b0, c10_0); c10_1 = GemmSimd.Fma(ai, b1, c10_1);
                ai = Vector512.Create(a[11]);
                c11_0 = GemmSimd.Fma(ai, b0, c11_0); c11_1 = GemmSimd.Fma(ai, b1, c11_1);
                ai = Vector512.Create(a[12]);
                c12_0 = GemmSimd.Fma(ai, b0, c12_0); c12_1 = GemmSimd.Fma(ai, b1, c12_1);
                ai = Vector512.Create(a[13]);
                c13_0 = GemmSimd.Fma(ai, b0, c13_0); c13_1 = GemmSimd.Fma(ai, b1, c13_1);
                a += step;
                b += 2 * w;
            }
        }
        else
        {
            // Rows 3q, 3q + 1, 3q + 2 are read at r_3q, r_3q + rsA, r_3q + 2 rsA: five base pointers and two strides
            // stay in registers, and every broadcast is one load with a base + index * scale address.
            nint l1 = (nint)rsA, l2 = 2 * (nint)rsA;
            T* r0 = a, r3 = a + 3 * l1, r6 = a + 6 * l1, r9 = a + 9 * l1, r12 = a + 12 * l1;
            for (int p = 0; p < kc; p++)
            {
                Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + w);
                var ai = Vector512.Create(r0[0]);
                c0_0 = GemmSimd.Fma(ai, b0, c0_0); c0_1 = GemmSimd.Fma(ai, b1, c0_1);
                ai = Vector512.Create(r0[l1]);
                c1_0 = GemmSimd.Fma(ai, b0, c1_0); c1_1 = GemmSimd.Fma(ai, b1, c1_1);
                ai = Vector512.Create(r0[l2]);
                c2_0 = GemmSimd.Fma(ai, b0, c2_0); c2_1 = GemmSimd.Fma(ai, b1, c2_1);
                ai = Vector512.Create(r3[0]);
                c3_0 = GemmSimd.Fma(ai, b0, c3_0); c3_1 = GemmSimd.Fma(ai, b1, c3_1);
                ai = Vector512.Create(r3[l1]);
                c4_0 = GemmSimd.Fma(ai, b0, c4_0); c4_1 = GemmSimd.Fma(ai, b1, c4_1);
                ai = Vector512.Create(r3[l2]);
                c5_0 = GemmSimd.Fma(ai, b0, c5_0); c5_1 = GemmSimd.Fma(ai, b1, c5_1);
                ai = Vector512.Create(r6[0]);
                c6_0 = GemmSimd.Fma(ai, b0, c6_0); c6_1 = GemmSimd.Fma(ai, b1, c6_1);
                ai = Vector512.Create(r6[l1]);
                c7_0 = GemmSimd.Fma(ai, b0, c7_0); c7_1 = GemmSimd.Fma(ai, b1, c7_1);
                ai = Vector512.Create(r6[l2]);
                c8_0 = GemmSimd.Fma(ai, b0, c8_0); c8_1 = GemmSimd.Fma(ai, b1, c8_1);
                ai = Vector512.Create(r9[0]);
                c9_0 = GemmSimd.Fma(ai, b0, c9_0); c9_1 = GemmSimd.Fma(ai, b1, c9_1);
                ai = Vector512.Create(r9[l1]);
                c10_0 = GemmSimd.Fma(ai, b0, c10_0); c10_1 = GemmSimd.Fma(ai, b1, c10_1);
                ai = Vector512.Create(r9[l2]);
                c11_0 = GemmSimd.Fma(ai, b0, c11_0); c11_1 = GemmSimd.Fma(ai, b1, c11_1);
                ai = Vector512.Create(r12[0]);
                c12_0 = GemmSimd.Fma(ai, b0, c12_0); c12_1 = GemmSimd.Fma(ai, b1, c12_1);
                ai = Vector512.Create(r12[l1]);
                c13_0 = GemmSimd.Fma(ai, b0, c13_0); c13_1 = GemmSimd.Fma(ai, b1, c13_1);
                r0++; r3++; r6++; r9++; r12++;
                b += 2 * w;
            }
        }
        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        bool readC = !T.IsZero(beta);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 0 * ldc, c0_0, c0_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 1 * ldc, c1_0, c1_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 2 * ldc, c2_0, c2_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 3 * ldc, c3_0, c3_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 4 * ldc, c4_0, c4_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 5 * ldc, c5_0, c5_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 6 * ldc, c6_0, c6_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 7 * ldc, c7_0, c7_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 8 * ldc, c8_0, c8_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 9 * ldc, c9_0, c9_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 10 * ldc, c10_0, c10_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 11 * ldc, c11_0, c11_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 12 * ldc, c12_0, c12_1, va, vb, readC, rowBias);
        GemmTileStore.Row<T, Vector512<T>, Vector512Ops<T>>(c + 13 * ldc, c13_0, c13_1, va, vb, readC, rowBias);
    }
}
