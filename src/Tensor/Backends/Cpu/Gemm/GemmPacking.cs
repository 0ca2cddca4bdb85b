using System.Runtime.CompilerServices;

namespace Engine.Backends.Cpu;

/// <summary>
/// Copies blocks of A and B into the contiguous, micro-kernel-ordered layout of BLIS
/// (Van Zee and van de Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS Functionality", 2015, section 3).
/// Packing is where strides are absorbed: a transposed or sliced operand costs a different read order here
/// and nothing anywhere else. Edges are zero-padded to whole micro-panels so the kernel never branches.
/// </summary>
internal static unsafe class GemmPacking
{
    /// <summary>
    /// Packs the mc x kc block A(i, p) = a[i*rsA + p*csA] into ceil(mc/mr) micro-panels; panel r holds
    /// rows r*mr.. as dst[r*mr*kc + p*mr + ii].
    /// </summary>
    public static void PackA<T>(int mc, int kc, int mr, T* a, long rsA, long csA, T* dst) where T : unmanaged
    {
        for (int i = 0; i < mc; i += mr)
        {
            int rows = Math.Min(mr, mc - i);
            T* d = dst + (long)i * kc;
            T* src = a + i * rsA;
            if (rows < mr) ZeroFill(d, (long)mr * kc);
            if (rsA == 1 && rows == mr)
            {
                // Column-major A (a transposed operand): each k step is already mr contiguous values.
                for (int p = 0; p < kc; p++)
                    Copy(src + p * csA, d + p * mr, mr);
            }
            else
            {
                // Row-major A: read each row contiguously, scatter into the panel with stride mr.
                for (int ii = 0; ii < rows; ii++)
                {
                    T* row = src + ii * rsA;
                    T* col = d + ii;
                    if (csA == 1)
                        for (int p = 0; p < kc; p++) col[p * mr] = row[p];
                    else
                        for (int p = 0; p < kc; p++) col[p * mr] = row[p * csA];
                }
            }
        }
    }

    /// <summary>
    /// Packs the kc x nc block B(p, j) = b[p*rsB + j*csB] into ceil(nc/nr) micro-panels; panel q holds
    /// columns q*nr.. as dst[q*nr*kc + p*nr + jj].
    /// </summary>
    public static void PackB<T>(int kc, int nc, int nr, T* b, long rsB, long csB, T* dst) where T : unmanaged
    {
        for (int j = 0; j < nc; j += nr)
        {
            int cols = Math.Min(nr, nc - j);
            T* d = dst + (long)j * kc;
            T* src = b + j * csB;
            if (cols < nr) ZeroFill(d, (long)nr * kc);
            if (csB == 1 && cols == nr)
            {
                // Row-major B: each k step is nr contiguous values.
                for (int p = 0; p < kc; p++)
                    Copy(src + p * rsB, d + p * nr, nr);
            }
            else
            {
                // Column-major B (the weight layout of x @ W^T): read each column contiguously.
                for (int jj = 0; jj < cols; jj++)
                {
                    T* column = src + jj * csB;
                    T* row = d + jj;
                    if (rsB == 1)
                        for (int p = 0; p < kc; p++) row[p * nr] = column[p];
                    else
                        for (int p = 0; p < kc; p++) row[p * nr] = column[p * rsB];
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy<T>(T* src, T* dst, int count) where T : unmanaged
        => Unsafe.CopyBlockUnaligned(dst, src, (uint)(count * sizeof(T)));

    private static void ZeroFill<T>(T* dst, long count) where T : unmanaged
        => new Span<T>(dst, checked((int)count)).Clear();
}
