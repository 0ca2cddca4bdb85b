using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
                if (csA == 1 && rows == mr && TryGatherPanel(src, rsA, mr, kc, d)) continue;
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
                if (rsB == 1 && cols == nr && TryGatherPanel(src, csB, nr, kc, d)) continue;
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

    /// <summary>
    /// dst[p * lines + r] = src[r * lineStride + p] for r &lt; lines, p &lt; kc (a transposing copy of <paramref name="lines"/>
    /// rows of <paramref name="kc"/> contiguous values), for Float32 with AVX2 gathers: one gather collects element p of
    /// 8 lines, replacing 8 scalar loads and stores. This copy was a sixth of BERT's [4096, 384] x [384, 384] products
    /// (the activations are row-major A, the weights column-major B). False, doing nothing, where it does not apply.
    /// </summary>
    private static bool TryGatherPanel<T>(T* src, long lineStride, int lines, int kc, T* dst) where T : unmanaged
    {
        const int Lanes = 8, MaxChunks = 4;
        int chunks = (lines + Lanes - 1) / Lanes;
        if (typeof(T) != typeof(float) || !Avx2.IsSupported || CpuIsa.Active < IsaLevel.Avx2 || chunks > MaxChunks || lines < Lanes
            || lineStride * (Lanes - 1) + kc > int.MaxValue)
            return false;
        float* s = (float*)src, o = (float*)dst;
        var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        var index = lane * (int)lineStride;
        // The last chunk may be short: its lanes past the panel re-read the chunk's first line (a valid address) and
        // land in the next row's slots, which the next p rewrites; the last row takes scalar stores instead.
        int lastLines = lines - (chunks - 1) * Lanes;
        var lastIndex = Vector256.ConditionalSelect(Vector256.LessThan(lane, Vector256.Create(lastLines)), index, Vector256<int>.Zero);
        Span<float> tail = stackalloc float[Lanes];
        for (int p = 0; p < kc; p++)
        {
            float* row = o + (long)p * lines;
            for (int c = 0; c < chunks; c++)
            {
                float* from = s + c * Lanes * lineStride + p;
                bool last = c == chunks - 1;
                var v = Avx2.GatherVector256(from, last ? lastIndex : index, 4);
                if (!last || lastLines == Lanes || p < kc - 1) v.Store(row + c * Lanes);
                else
                {
                    v.CopyTo(tail);
                    for (int r = 0; r < lastLines; r++) row[c * Lanes + r] = tail[r];
                }
            }
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy<T>(T* src, T* dst, int count) where T : unmanaged
        => Unsafe.CopyBlockUnaligned(dst, src, (uint)(count * sizeof(T)));

    private static void ZeroFill<T>(T* dst, long count) where T : unmanaged
        => new Span<T>(dst, checked((int)count)).Clear();
}
