using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Backends.Cpu;

/// <summary>
/// GEMM for a short A (m &lt;= <see cref="MaxM"/>: decoding one token, adapter down/up projections).
/// With so few rows, packing B costs as much as the multiply itself, so B is streamed straight from
/// memory and A is read in place. Two forms cover the layouts that occur:
/// <list type="bullet">
/// <item>rows of B contiguous (csB == 1): an axpy form, C row += A(i,k) * B row k, vectorised along N;</item>
/// <item>columns of B contiguous (rsB == 1, the x @ W^T weight layout): a dot form, vectorised along K.</item>
/// </list>
/// Any other layout goes through the packed path.
/// </summary>
internal static unsafe class SmallMGemm
{
    /// <summary>Largest m handled here; above it the packed path's reuse of B wins.</summary>
    public const int MaxM = 16;

    /// <summary>Number of vectors along N in an axpy tile, and columns per dot tile.</summary>
    private const int TileVectors = 4;

    /// <summary>
    /// Runs the product if a streaming form fits the strides; returns false otherwise.
    /// <paramref name="wide"/> selects Vector512 tiles of up to 4 rows (AVX-512 has 32 registers),
    /// otherwise Vector256 tiles of up to 2 rows fit AVX2's 16.
    /// </summary>
    public static bool TryRun<T>(bool wide, int m, int n, int k, T alpha, T* a, long rsA, long csA,
        T* b, long rsB, long csB, T beta, T* c, long ldc, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!Fma.IsSupported || m > MaxM || (csB != 1 && rsB != 1)) return false;
        if (m == 1 && csB == 1)
        {
            if (wide && Avx512F.IsSupported) RunRowStream<T, Vector512<T>, Vector512Ops<T>>(n, k, alpha, a, csA, b, rsB, beta, c, threads);
            else RunRowStream<T, Vector256<T>, Vector256Ops<T>>(n, k, alpha, a, csA, b, rsB, beta, c, threads);
            return true;
        }
        if (wide && Avx512F.IsSupported)
        {
            if (csB == 1) RunAxpy<T, Vector512<T>, Vector512Ops<T>>(4, m, n, k, alpha, a, rsA, csA, b, rsB, beta, c, ldc, threads);
            else RunDot<T, Vector512<T>, Vector512Ops<T>>(4, m, n, k, alpha, a, rsA, csA, b, csB, beta, c, ldc, threads);
        }
        else
        {
            if (csB == 1) RunAxpy<T, Vector256<T>, Vector256Ops<T>>(2, m, n, k, alpha, a, rsA, csA, b, rsB, beta, c, ldc, threads);
            else RunDot<T, Vector256<T>, Vector256Ops<T>>(2, m, n, k, alpha, a, rsA, csA, b, csB, beta, c, ldc, threads);
        }
        return true;
    }

    /// <summary>
    /// y = x B for one row x and row-major B. Register tiles would walk B in column strips, which crosses a page
    /// every few rows and defeats the hardware prefetcher; instead B is read row after row (eight rows at a time,
    /// so each partial sum in y is loaded and stored once per eight FMAs) and y stays in L1.
    /// </summary>
    private static void RunRowStream<T, TV, TOps>(int n, int k, T alpha, T* x, long csX, T* b, long rsB, T beta, T* c, int threads)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : struct where TOps : struct, IVectorOps<TV, T>
    {
        int w = TOps.Count;
        // Split at whole 64-byte lines so that threads never share a cache line of y or C.
        int unit = Math.Max(w, 64 / sizeof(T));
        int units = (n + unit - 1) / unit;
        int parts = GemmThreading.Parts(threads, (long)n * k, units);
        // One part runs here directly: the lambda's closure would be the only allocation of a decoding step's product.
        if (parts == 1) RowStreamRange<T, TV, TOps>(0, n, k, alpha, x, csX, b, rsB, beta, c);
        else RowStreamParts<T, TV, TOps>(parts, unit, units, n, k, alpha, x, csX, b, rsB, beta, c);
    }

    private static void RowStreamParts<T, TV, TOps>(int parts, int unit, int units, int n, int k, T alpha, T* x, long csX, T* b, long rsB, T beta, T* c)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : struct where TOps : struct, IVectorOps<TV, T>
    {
        GemmThreading.For(parts, t =>
        {
            var (first, last) = GemmThreading.Split(units, parts, t);
            int j0 = first * unit, cols = Math.Min(n, last * unit) - j0;
            if (cols <= 0) return;
            RowStreamRange<T, TV, TOps>(j0, cols, k, alpha, x, csX, b, rsB, beta, c);
        });
    }

    /// <summary>Columns [j0, j0 + cols) of y = x B on the calling thread.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowStreamRange<T, TV, TOps>(int j0, int cols, int k, T alpha, T* x, long csX, T* b, long rsB, T beta, T* c)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : struct where TOps : struct, IVectorOps<TV, T>
    {
        int w = TOps.Count;
        T* y = GemmBuffers<T>.PackedB(cols);
        new Span<T>(y, cols).Clear();
        int vectorCols = cols - cols % w;
        int p = 0;
        for (; p <= k - 8; p += 8)
        {
            var x0 = TOps.Broadcast(x[p * csX]);
            var x1 = TOps.Broadcast(x[(p + 1) * csX]);
            var x2 = TOps.Broadcast(x[(p + 2) * csX]);
            var x3 = TOps.Broadcast(x[(p + 3) * csX]);
            var x4 = TOps.Broadcast(x[(p + 4) * csX]);
            var x5 = TOps.Broadcast(x[(p + 5) * csX]);
            var x6 = TOps.Broadcast(x[(p + 6) * csX]);
            var x7 = TOps.Broadcast(x[(p + 7) * csX]);
            T* r0 = b + p * rsB + j0;
            for (int j = 0; j < vectorCols; j += w)
            {
                T* r = r0 + j;
                var acc = TOps.Load(y + j);
                acc = TOps.Fma(x0, TOps.Load(r), acc);
                acc = TOps.Fma(x1, TOps.Load(r + rsB), acc);
                acc = TOps.Fma(x2, TOps.Load(r + 2 * rsB), acc);
                acc = TOps.Fma(x3, TOps.Load(r + 3 * rsB), acc);
                acc = TOps.Fma(x4, TOps.Load(r + 4 * rsB), acc);
                acc = TOps.Fma(x5, TOps.Load(r + 5 * rsB), acc);
                acc = TOps.Fma(x6, TOps.Load(r + 6 * rsB), acc);
                acc = TOps.Fma(x7, TOps.Load(r + 7 * rsB), acc);
                TOps.Store(acc, y + j);
            }
            for (int j = vectorCols; j < cols; j++)
            {
                T acc = y[j];
                for (int q = 0; q < 8; q++) acc = T.FusedMultiplyAdd(x[(p + q) * csX], r0[q * rsB + j], acc);
                y[j] = acc;
            }
        }
        for (; p <= k - 4; p += 4)
        {
            var x0 = TOps.Broadcast(x[p * csX]);
            var x1 = TOps.Broadcast(x[(p + 1) * csX]);
            var x2 = TOps.Broadcast(x[(p + 2) * csX]);
            var x3 = TOps.Broadcast(x[(p + 3) * csX]);
            T* r0 = b + p * rsB + j0, r1 = r0 + rsB, r2 = r1 + rsB, r3 = r2 + rsB;
            for (int j = 0; j < vectorCols; j += w)
            {
                var acc = TOps.Load(y + j);
                acc = TOps.Fma(x0, TOps.Load(r0 + j), acc);
                acc = TOps.Fma(x1, TOps.Load(r1 + j), acc);
                acc = TOps.Fma(x2, TOps.Load(r2 + j), acc);
                acc = TOps.Fma(x3, TOps.Load(r3 + j), acc);
                TOps.Store(acc, y + j);
            }
            for (int j = vectorCols; j < cols; j++)
            {
                T acc = y[j];
                acc = T.FusedMultiplyAdd(x[p * csX], r0[j], acc);
                acc = T.FusedMultiplyAdd(x[(p + 1) * csX], r1[j], acc);
                acc = T.FusedMultiplyAdd(x[(p + 2) * csX], r2[j], acc);
                acc = T.FusedMultiplyAdd(x[(p + 3) * csX], r3[j], acc);
                y[j] = acc;
            }
        }
        for (; p < k; p++)
        {
            var x0 = TOps.Broadcast(x[p * csX]);
            T* r0 = b + p * rsB + j0;
            for (int j = 0; j < vectorCols; j += w)
                TOps.Store(TOps.Fma(x0, TOps.Load(r0 + j), TOps.Load(y + j)), y + j);
            for (int j = vectorCols; j < cols; j++)
                y[j] = T.FusedMultiplyAdd(x[p * csX], r0[j], y[j]);
        }
        T* cRow = c + j0;
        for (int j = 0; j < cols; j++) cRow[j] = GemmSimd.Update(y[j], alpha, beta, cRow[j]);
    }

    private static void RunAxpy<T, TV, TOps>(int maxRows, int m, int n, int k, T alpha, T* a, long rsA, long csA,
        T* b, long rsB, T beta, T* c, long ldc, int threads)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : struct where TOps : struct, IVectorOps<TV, T>
    {
        int width = TileVectors * TOps.Count;
        int chunks = (n + width - 1) / width;
        int parts = GemmThreading.Parts(threads, (long)m * n * k, chunks);
        GemmThreading.For(parts, t =>
        {
            var (first, last) = GemmThreading.Split(chunks, parts, t);
            for (int chunk = first; chunk < last; chunk++)
            {
                int j = chunk * width;
                int cols = Math.Min(width, n - j);
                // Row groups walk the same k x width strip of B, which stays in L2 between them.
                for (int i = 0; i < m; i += maxRows)
                {
                    int rows = Math.Min(maxRows, m - i);
                    T* ai = a + i * rsA;
                    T* ci = c + i * ldc + j;
                    if (cols < width) AxpyEdge(rows, cols, k, alpha, ai, rsA, csA, b + j, rsB, beta, ci, ldc);
                    else if (rows == 1) AxpyTile<T, TV, TOps, Rows1>(k, alpha, ai, rsA, csA, b + j, rsB, beta, ci, ldc);
                    else if (rows == 2) AxpyTile<T, TV, TOps, Rows2>(k, alpha, ai, rsA, csA, b + j, rsB, beta, ci, ldc);
                    else if (rows == 3) AxpyTile<T, TV, TOps, Rows3>(k, alpha, ai, rsA, csA, b + j, rsB, beta, ci, ldc);
                    else AxpyTile<T, TV, TOps, Rows4>(k, alpha, ai, rsA, csA, b + j, rsB, beta, ci, ldc);
                }
            }
        });
    }

    /// <summary>A rows x (4 vectors) tile of C, accumulated over all of k in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AxpyTile<T, TV, TOps, TRows>(int k, T alpha, T* a, long rsA, long csA, T* b, long rsB, T beta, T* c, long ldc)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : struct where TOps : struct, IVectorOps<TV, T> where TRows : struct, IRowCount
    {
        int w = TOps.Count;
        TV c00 = default, c01 = default, c02 = default, c03 = default;
        TV c10 = default, c11 = default, c12 = default, c13 = default;
        TV c20 = default, c21 = default, c22 = default, c23 = default;
        TV c30 = default, c31 = default, c32 = default, c33 = default;
        for (int p = 0; p < k; p++)
        {
            T* bp = b + p * rsB;
            var b0 = TOps.Load(bp);
            var b1 = TOps.Load(bp + w);
            var b2 = TOps.Load(bp + 2 * w);
            var b3 = TOps.Load(bp + 3 * w);
            T* ap = a + p * csA;
            var x = TOps.Broadcast(ap[0]);
            c00 = TOps.Fma(x, b0, c00); c01 = TOps.Fma(x, b1, c01); c02 = TOps.Fma(x, b2, c02); c03 = TOps.Fma(x, b3, c03);
            if (TRows.Value > 1)
            {
                x = TOps.Broadcast(ap[rsA]);
                c10 = TOps.Fma(x, b0, c10); c11 = TOps.Fma(x, b1, c11); c12 = TOps.Fma(x, b2, c12); c13 = TOps.Fma(x, b3, c13);
            }
            if (TRows.Value > 2)
            {
                x = TOps.Broadcast(ap[2 * rsA]);
                c20 = TOps.Fma(x, b0, c20); c21 = TOps.Fma(x, b1, c21); c22 = TOps.Fma(x, b2, c22); c23 = TOps.Fma(x, b3, c23);
            }
            if (TRows.Value > 3)
            {
                x = TOps.Broadcast(ap[3 * rsA]);
                c30 = TOps.Fma(x, b0, c30); c31 = TOps.Fma(x, b1, c31); c32 = TOps.Fma(x, b2, c32); c33 = TOps.Fma(x, b3, c33);
            }
        }
        StoreRow<T, TV, TOps>(c, w, c00, c01, c02, c03, alpha, beta);
        if (TRows.Value > 1) StoreRow<T, TV, TOps>(c + ldc, w, c10, c11, c12, c13, alpha, beta);
        if (TRows.Value > 2) StoreRow<T, TV, TOps>(c + 2 * ldc, w, c20, c21, c22, c23, alpha, beta);
        if (TRows.Value > 3) StoreRow<T, TV, TOps>(c + 3 * ldc, w, c30, c31, c32, c33, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow<T, TV, TOps>(T* c, int w, TV x0, TV x1, TV x2, TV x3, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : struct where TOps : struct, IVectorOps<TV, T>
    {
        StoreVector<T, TV, TOps>(c, x0, alpha, beta);
        StoreVector<T, TV, TOps>(c + w, x1, alpha, beta);
        StoreVector<T, TV, TOps>(c + 2 * w, x2, alpha, beta);
        StoreVector<T, TV, TOps>(c + 3 * w, x3, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreVector<T, TV, TOps>(T* c, TV acc, T alpha, T beta) where T : unmanaged, IFloatingPointIeee754<T> where TV : struct where TOps : struct, IVectorOps<TV, T>
    {
        var scaled = TOps.Multiply(TOps.Broadcast(alpha), acc);
        if (T.IsZero(beta)) TOps.Store(scaled, c);
        else TOps.Store(TOps.Fma(TOps.Broadcast(beta), TOps.Load(c), scaled), c);
    }

    /// <summary>Columns past the last whole tile: same k order, one element at a time.</summary>
    private static void AxpyEdge<T>(int rows, int cols, int k, T alpha, T* a, long rsA, long csA, T* b, long rsB, T beta, T* c, long ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int ii = 0; ii < rows; ii++)
            for (int jj = 0; jj < cols; jj++)
            {
                T acc = T.Zero;
                for (int p = 0; p < k; p++) acc = T.FusedMultiplyAdd(a[ii * rsA + p * csA], b[p * rsB + jj], acc);
                T* cij = c + ii * ldc + jj;
                *cij = GemmSimd.Update(acc, alpha, beta, *cij);
            }
    }

    private static void RunDot<T, TV, TOps>(int maxRows, int m, int n, int k, T alpha, T* a, long rsA, long csA,
        T* b, long csB, T beta, T* c, long ldc, int threads)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : struct where TOps : struct, IVectorOps<TV, T>
    {
        if (csA != 1)
        {
            // The dot form reads A rows along k; a strided A is gathered once (at most 16 x k values).
            T* dense = GemmBuffers<T>.PackedA((long)m * k);
            for (int i = 0; i < m; i++)
                for (int p = 0; p < k; p++) dense[(long)i * k + p] = a[i * rsA + p * csA];
            a = dense;
            rsA = k;
        }
        int chunks = (n + TileVectors - 1) / TileVectors;
        int parts = GemmThreading.Parts(threads, (long)m * n * k, chunks);
        // As in RunRowStream: one part runs without a closure.
        if (parts == 1) DotChunks<T, TV, TOps>(0, chunks, maxRows, m, n, k, alpha, a, rsA, b, csB, beta, c, ldc);
        else DotParts<T, TV, TOps>(parts, chunks, maxRows, m, n, k, alpha, a, rsA, b, csB, beta, c, ldc);
    }

    private static void DotParts<T, TV, TOps>(int parts, int chunks, int maxRows, int m, int n, int k, T alpha, T* a, long rsA,
        T* b, long csB, T beta, T* c, long ldc)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : struct where TOps : struct, IVectorOps<TV, T>
    {
        GemmThreading.For(parts, t =>
        {
            var (first, last) = GemmThreading.Split(chunks, parts, t);
            DotChunks<T, TV, TOps>(first, last, maxRows, m, n, k, alpha, a, rsA, b, csB, beta, c, ldc);
        });
    }

    /// <summary>Tiles [first, last) of 4 columns of C in the dot form, on the calling thread.</summary>
    private static void DotChunks<T, TV, TOps>(int first, int last, int maxRows, int m, int n, int k, T alpha, T* a, long rsA,
        T* b, long csB, T beta, T* c, long ldc)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : struct where TOps : struct, IVectorOps<TV, T>
    {
        for (int chunk = first; chunk < last; chunk++)
        {
            int j = chunk * TileVectors;
            int cols = Math.Min(TileVectors, n - j);
            for (int i = 0; i < m; i += maxRows)
            {
                int rows = Math.Min(maxRows, m - i);
                T* ai = a + i * rsA;
                T* bj = b + j * csB;
                T* ci = c + i * ldc + j;
                if (cols < TileVectors)
                {
                    for (int ii = 0; ii < rows; ii++)
                        for (int jj = 0; jj < cols; jj++)
                            DotTile<T, TV, TOps, Rows1, Cols1>(k, alpha, ai + ii * rsA, rsA, bj + jj * csB, csB, beta, ci + ii * ldc + jj, ldc);
                }
                else if (rows == 1) DotTile<T, TV, TOps, Rows1, Cols4>(k, alpha, ai, rsA, bj, csB, beta, ci, ldc);
                else if (rows == 2) DotTile<T, TV, TOps, Rows2, Cols4>(k, alpha, ai, rsA, bj, csB, beta, ci, ldc);
                else if (rows == 3) DotTile<T, TV, TOps, Rows3, Cols4>(k, alpha, ai, rsA, bj, csB, beta, ci, ldc);
                else DotTile<T, TV, TOps, Rows4, Cols4>(k, alpha, ai, rsA, bj, csB, beta, ci, ldc);
            }
        }
    }

    /// <summary>
    /// A rows x cols tile of C as dot products along k: each accumulator is a vector of partial sums,
    /// reduced once at the end in a fixed order (so the result does not depend on the thread count).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotTile<T, TV, TOps, TRows, TCols>(int k, T alpha, T* a, long rsA, T* b, long csB, T beta, T* c, long ldc)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : struct where TOps : struct, IVectorOps<TV, T> where TRows : struct, IRowCount where TCols : struct, IRowCount
    {
        int w = TOps.Count;
        int R = TRows.Value, C = TCols.Value;
        TV s00 = default, s01 = default, s02 = default, s03 = default;
        TV s10 = default, s11 = default, s12 = default, s13 = default;
        TV s20 = default, s21 = default, s22 = default, s23 = default;
        TV s30 = default, s31 = default, s32 = default, s33 = default;
        T* b0 = b, b1 = b + csB, b2 = b + 2 * csB, b3 = b + 3 * csB;
        T* a0 = a, a1 = a + rsA, a2 = a + 2 * rsA, a3 = a + 3 * rsA;
        int p = 0;
        for (; p <= k - w; p += w)
        {
            var y0 = TOps.Load(b0 + p);
            var y1 = C > 1 ? TOps.Load(b1 + p) : default(TV);
            var y2 = C > 2 ? TOps.Load(b2 + p) : default(TV);
            var y3 = C > 3 ? TOps.Load(b3 + p) : default(TV);
            var x = TOps.Load(a0 + p);
            s00 = TOps.Fma(x, y0, s00);
            if (C > 1) { s01 = TOps.Fma(x, y1, s01); s02 = TOps.Fma(x, y2, s02); s03 = TOps.Fma(x, y3, s03); }
            if (R > 1)
            {
                x = TOps.Load(a1 + p);
                s10 = TOps.Fma(x, y0, s10); s11 = TOps.Fma(x, y1, s11); s12 = TOps.Fma(x, y2, s12); s13 = TOps.Fma(x, y3, s13);
            }
            if (R > 2)
            {
                x = TOps.Load(a2 + p);
                s20 = TOps.Fma(x, y0, s20); s21 = TOps.Fma(x, y1, s21); s22 = TOps.Fma(x, y2, s22); s23 = TOps.Fma(x, y3, s23);
            }
            if (R > 3)
            {
                x = TOps.Load(a3 + p);
                s30 = TOps.Fma(x, y0, s30); s31 = TOps.Fma(x, y1, s31); s32 = TOps.Fma(x, y2, s32); s33 = TOps.Fma(x, y3, s33);
            }
        }
        int tail = p;
        Finish<T, TV, TOps>(c, alpha, beta, s00, a0, b0, tail, k);
        if (C > 1) { Finish<T, TV, TOps>(c + 1, alpha, beta, s01, a0, b1, tail, k); Finish<T, TV, TOps>(c + 2, alpha, beta, s02, a0, b2, tail, k); Finish<T, TV, TOps>(c + 3, alpha, beta, s03, a0, b3, tail, k); }
        if (R > 1) { T* cr = c + ldc; Finish<T, TV, TOps>(cr, alpha, beta, s10, a1, b0, tail, k); Finish<T, TV, TOps>(cr + 1, alpha, beta, s11, a1, b1, tail, k); Finish<T, TV, TOps>(cr + 2, alpha, beta, s12, a1, b2, tail, k); Finish<T, TV, TOps>(cr + 3, alpha, beta, s13, a1, b3, tail, k); }
        if (R > 2) { T* cr = c + 2 * ldc; Finish<T, TV, TOps>(cr, alpha, beta, s20, a2, b0, tail, k); Finish<T, TV, TOps>(cr + 1, alpha, beta, s21, a2, b1, tail, k); Finish<T, TV, TOps>(cr + 2, alpha, beta, s22, a2, b2, tail, k); Finish<T, TV, TOps>(cr + 3, alpha, beta, s23, a2, b3, tail, k); }
        if (R > 3) { T* cr = c + 3 * ldc; Finish<T, TV, TOps>(cr, alpha, beta, s30, a3, b0, tail, k); Finish<T, TV, TOps>(cr + 1, alpha, beta, s31, a3, b1, tail, k); Finish<T, TV, TOps>(cr + 2, alpha, beta, s32, a3, b2, tail, k); Finish<T, TV, TOps>(cr + 3, alpha, beta, s33, a3, b3, tail, k); }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish<T, TV, TOps>(T* c, T alpha, T beta, TV partial, T* a, T* b, int tail, int k)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : struct where TOps : struct, IVectorOps<TV, T>
    {
        T acc = TOps.Sum(partial);
        for (int p = tail; p < k; p++) acc = T.FusedMultiplyAdd(a[p], b[p], acc);
        *c = GemmSimd.Update(acc, alpha, beta, *c);
    }

    /// <summary>A row (or column) count fixed at JIT time, so unused accumulators vanish from the tile code.</summary>
    internal interface IRowCount { static abstract int Value { get; } }
    private readonly struct Rows1 : IRowCount { public static int Value => 1; }
    private readonly struct Rows2 : IRowCount { public static int Value => 2; }
    private readonly struct Rows3 : IRowCount { public static int Value => 3; }
    private readonly struct Rows4 : IRowCount { public static int Value => 4; }
    private readonly struct Cols1 : IRowCount { public static int Value => 1; }
    private readonly struct Cols4 : IRowCount { public static int Value => 4; }
}
