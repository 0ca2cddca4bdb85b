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
                if (csA == 1 && rows == mr && TryTransposePanel(src, rsA, mr, kc, d)) continue;
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
                if (rsB == 1 && cols == nr && TryTransposePanel(src, csB, nr, kc, d)) continue;
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
    /// rows of <paramref name="kc"/> contiguous values), for Float32 with AVX: eight rows are read eight values at a time
    /// with contiguous loads and transposed in registers (the 8 x 8 unpack/shuffle/permute network), three to four
    /// times fewer cycles per value than gathering each column. The copy is the packing of every row-major A and
    /// column-major B (a Linear's x and W), which was a seventh of a tiny-GPT training step with gathers. A last
    /// chunk of fewer than eight rows re-reads its last row (a valid address) into the spare lanes, which land in
    /// the next p's first slots and are overwritten by that p's first store; the last p's last chunk is stored value
    /// by value, so no store passes the panel (and k steps past the last whole eight are copied by scalars). False,
    /// doing nothing, where it does not apply.
    /// </summary>
    private static bool TryTransposePanel<T>(T* src, long lineStride, int lines, int kc, T* dst) where T : unmanaged
    {
        const int Lanes = 8, MaxChunks = 4;
        int chunks = (lines + Lanes - 1) / Lanes;
        if (typeof(T) != typeof(float) || !Avx.IsSupported || CpuIsa.Active < IsaLevel.Avx2 || chunks > MaxChunks || lines < Lanes)
            return false;
        float* s = (float*)src, o = (float*)dst;
        var columns = stackalloc Vector256<float>[MaxChunks * Lanes];
        int p0 = 0;
        for (; p0 + Lanes <= kc; p0 += Lanes)
        {
            for (int c = 0; c < chunks; c++)
            {
                float* first = s + (long)c * Lanes * lineStride + p0;
                int last = lines - 1 - c * Lanes; // rows past the panel repeat its last row
                Transpose8(
                    Vector256.Load(first), Vector256.Load(first + Math.Min(1, last) * lineStride),
                    Vector256.Load(first + Math.Min(2, last) * lineStride), Vector256.Load(first + Math.Min(3, last) * lineStride),
                    Vector256.Load(first + Math.Min(4, last) * lineStride), Vector256.Load(first + Math.Min(5, last) * lineStride),
                    Vector256.Load(first + Math.Min(6, last) * lineStride), Vector256.Load(first + Math.Min(7, last) * lineStride),
                    columns + c * Lanes);
            }
            bool lastStep = p0 + Lanes == kc;
            for (int j = 0; j < Lanes; j++)
                for (int c = 0; c < chunks; c++)
                {
                    float* at = o + (long)(p0 + j) * lines + c * Lanes;
                    int valid = Math.Min(Lanes, lines - c * Lanes);
                    // The panel's very last values: a whole vector would pass its end, so copy the valid ones.
                    if (lastStep && j == Lanes - 1 && valid < Lanes)
                        for (int r = 0; r < valid; r++) at[r] = columns[c * Lanes + j].GetElement(r);
                    else
                        columns[c * Lanes + j].Store(at);
                }
        }
        for (int p = p0; p < kc; p++)
            for (int r = 0; r < lines; r++)
                o[(long)p * lines + r] = s[r * lineStride + p];
        return true;
    }

    // columns[j] = (r0[j], r1[j], ..., r7[j]).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, Vector256<float>* columns)
    {
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        columns[0] = Avx.Permute2x128(u0, u4, 0x20); columns[1] = Avx.Permute2x128(u1, u5, 0x20);
        columns[2] = Avx.Permute2x128(u2, u6, 0x20); columns[3] = Avx.Permute2x128(u3, u7, 0x20);
        columns[4] = Avx.Permute2x128(u0, u4, 0x31); columns[5] = Avx.Permute2x128(u1, u5, 0x31);
        columns[6] = Avx.Permute2x128(u2, u6, 0x31); columns[7] = Avx.Permute2x128(u3, u7, 0x31);
    }

    /// <summary>
    /// One k step of a panel (mr or nr values: 24 bytes for the AVX2 kernel's six Float32 rows, up to 128 bytes):
    /// vector moves inlined into the packing loop, the last one overlapping the one before where the size is not a
    /// multiple of the move. CopyBlockUnaligned of a size known only at run time calls the library memmove once per
    /// k step, which was 7% of a training step with 56-byte steps and, with 24-byte ones, 4% of the AVX2 kernel's.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy<T>(T* src, T* dst, int count) where T : unmanaged
    {
        int bytes = count * sizeof(T);
        byte* s = (byte*)src, d = (byte*)dst;
        if (bytes < Vector256<byte>.Count)
        {
            if (bytes >= Vector128<byte>.Count)
            {
                var head = Vector128.Load(s);
                Vector128.Load(s + bytes - Vector128<byte>.Count).Store(d + bytes - Vector128<byte>.Count);
                head.Store(d);
            }
            else Unsafe.CopyBlockUnaligned(dst, src, (uint)bytes);
            return;
        }
        int i = 0;
        for (; i + Vector256<byte>.Count <= bytes; i += Vector256<byte>.Count) Vector256.Load(s + i).Store(d + i);
        if (i < bytes) Vector256.Load(s + bytes - Vector256<byte>.Count).Store(d + bytes - Vector256<byte>.Count);
    }

    private static void ZeroFill<T>(T* dst, long count) where T : unmanaged
        => new Span<T>(dst, checked((int)count)).Clear();
}
