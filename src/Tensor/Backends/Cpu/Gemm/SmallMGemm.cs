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

    /// <summary>Runs the product if a streaming form fits the strides; returns false otherwise.</summary>
    public static bool TryRun<T>(int maxRows, int m, int n, int k, T alpha, T* a, long rsA, long csA,
        T* b, long rsB, long csB, T beta, T* c, long ldc, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!Fma.IsSupported || m > MaxM) return false;
        if (csB == 1) { RunAxpy(maxRows, m, n, k, alpha, a, rsA, csA, b, rsB, beta, c, ldc, threads); return true; }
        if (rsB == 1) { RunDot(maxRows, m, n, k, alpha, a, rsA, csA, b, csB, beta, c, ldc, threads); return true; }
        return false;
    }

    private static void RunAxpy<T>(int maxRows, int m, int n, int k, T alpha, T* a, long rsA, long csA,
        T* b, long rsB, T beta, T* c, long ldc, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = TileVectors * Vector256<T>.Count;
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
                    else if (rows == 1) AxpyTile<T, Rows1>(k, alpha, ai, rsA, csA, b + j, rsB, beta, ci, ldc);
                    else if (rows == 2) AxpyTile<T, Rows2>(k, alpha, ai, rsA, csA, b + j, rsB, beta, ci, ldc);
                    else if (rows == 3) AxpyTile<T, Rows3>(k, alpha, ai, rsA, csA, b + j, rsB, beta, ci, ldc);
                    else AxpyTile<T, Rows4>(k, alpha, ai, rsA, csA, b + j, rsB, beta, ci, ldc);
                }
            }
        });
    }

    /// <summary>A rows x (4 vectors) tile of C, accumulated over all of k in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AxpyTile<T, TRows>(int k, T alpha, T* a, long rsA, long csA, T* b, long rsB, T beta, T* c, long ldc)
        where T : unmanaged, IFloatingPointIeee754<T> where TRows : struct, IRowCount
    {
        int w = Vector256<T>.Count;
        Vector256<T> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector256<T> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector256<T> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector256<T> c30 = default, c31 = default, c32 = default, c33 = default;
        for (int p = 0; p < k; p++)
        {
            T* bp = b + p * rsB;
            var b0 = Vector256.Load(bp);
            var b1 = Vector256.Load(bp + w);
            var b2 = Vector256.Load(bp + 2 * w);
            var b3 = Vector256.Load(bp + 3 * w);
            T* ap = a + p * csA;
            var x = Vector256.Create(ap[0]);
            c00 = GemmSimd.Fma(x, b0, c00); c01 = GemmSimd.Fma(x, b1, c01); c02 = GemmSimd.Fma(x, b2, c02); c03 = GemmSimd.Fma(x, b3, c03);
            if (TRows.Value > 1)
            {
                x = Vector256.Create(ap[rsA]);
                c10 = GemmSimd.Fma(x, b0, c10); c11 = GemmSimd.Fma(x, b1, c11); c12 = GemmSimd.Fma(x, b2, c12); c13 = GemmSimd.Fma(x, b3, c13);
            }
            if (TRows.Value > 2)
            {
                x = Vector256.Create(ap[2 * rsA]);
                c20 = GemmSimd.Fma(x, b0, c20); c21 = GemmSimd.Fma(x, b1, c21); c22 = GemmSimd.Fma(x, b2, c22); c23 = GemmSimd.Fma(x, b3, c23);
            }
            if (TRows.Value > 3)
            {
                x = Vector256.Create(ap[3 * rsA]);
                c30 = GemmSimd.Fma(x, b0, c30); c31 = GemmSimd.Fma(x, b1, c31); c32 = GemmSimd.Fma(x, b2, c32); c33 = GemmSimd.Fma(x, b3, c33);
            }
        }
        StoreRow(c, w, c00, c01, c02, c03, alpha, beta);
        if (TRows.Value > 1) StoreRow(c + ldc, w, c10, c11, c12, c13, alpha, beta);
        if (TRows.Value > 2) StoreRow(c + 2 * ldc, w, c20, c21, c22, c23, alpha, beta);
        if (TRows.Value > 3) StoreRow(c + 3 * ldc, w, c30, c31, c32, c33, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow<T>(T* c, int w, Vector256<T> x0, Vector256<T> x1, Vector256<T> x2, Vector256<T> x3, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        StoreVector(c, x0, alpha, beta);
        StoreVector(c + w, x1, alpha, beta);
        StoreVector(c + 2 * w, x2, alpha, beta);
        StoreVector(c + 3 * w, x3, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreVector<T>(T* c, Vector256<T> acc, T alpha, T beta) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var scaled = Vector256.Create(alpha) * acc;
        if (T.IsZero(beta)) scaled.Store(c);
        else GemmSimd.Fma(Vector256.Create(beta), Vector256.Load(c), scaled).Store(c);
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

    private static void RunDot<T>(int maxRows, int m, int n, int k, T alpha, T* a, long rsA, long csA,
        T* b, long csB, T beta, T* c, long ldc, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
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
        GemmThreading.For(parts, t =>
        {
            var (first, last) = GemmThreading.Split(chunks, parts, t);
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
                                DotTile<T, Rows1, Cols1>(k, alpha, ai + ii * rsA, rsA, bj + jj * csB, csB, beta, ci + ii * ldc + jj, ldc);
                    }
                    else if (rows == 1) DotTile<T, Rows1, Cols4>(k, alpha, ai, rsA, bj, csB, beta, ci, ldc);
                    else if (rows == 2) DotTile<T, Rows2, Cols4>(k, alpha, ai, rsA, bj, csB, beta, ci, ldc);
                    else if (rows == 3) DotTile<T, Rows3, Cols4>(k, alpha, ai, rsA, bj, csB, beta, ci, ldc);
                    else DotTile<T, Rows4, Cols4>(k, alpha, ai, rsA, bj, csB, beta, ci, ldc);
                }
            }
        });
    }

    /// <summary>
    /// A rows x cols tile of C as dot products along k: each accumulator is a vector of partial sums,
    /// reduced once at the end in a fixed order (so the result does not depend on the thread count).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotTile<T, TRows, TCols>(int k, T alpha, T* a, long rsA, T* b, long csB, T beta, T* c, long ldc)
        where T : unmanaged, IFloatingPointIeee754<T> where TRows : struct, IRowCount where TCols : struct, IRowCount
    {
        int w = Vector256<T>.Count;
        int R = TRows.Value, C = TCols.Value;
        Vector256<T> s00 = default, s01 = default, s02 = default, s03 = default;
        Vector256<T> s10 = default, s11 = default, s12 = default, s13 = default;
        Vector256<T> s20 = default, s21 = default, s22 = default, s23 = default;
        Vector256<T> s30 = default, s31 = default, s32 = default, s33 = default;
        T* b0 = b, b1 = b + csB, b2 = b + 2 * csB, b3 = b + 3 * csB;
        T* a0 = a, a1 = a + rsA, a2 = a + 2 * rsA, a3 = a + 3 * rsA;
        int p = 0;
        for (; p <= k - w; p += w)
        {
            var y0 = Vector256.Load(b0 + p);
            var y1 = C > 1 ? Vector256.Load(b1 + p) : default;
            var y2 = C > 2 ? Vector256.Load(b2 + p) : default;
            var y3 = C > 3 ? Vector256.Load(b3 + p) : default;
            var x = Vector256.Load(a0 + p);
            s00 = GemmSimd.Fma(x, y0, s00);
            if (C > 1) { s01 = GemmSimd.Fma(x, y1, s01); s02 = GemmSimd.Fma(x, y2, s02); s03 = GemmSimd.Fma(x, y3, s03); }
            if (R > 1)
            {
                x = Vector256.Load(a1 + p);
                s10 = GemmSimd.Fma(x, y0, s10); s11 = GemmSimd.Fma(x, y1, s11); s12 = GemmSimd.Fma(x, y2, s12); s13 = GemmSimd.Fma(x, y3, s13);
            }
            if (R > 2)
            {
                x = Vector256.Load(a2 + p);
                s20 = GemmSimd.Fma(x, y0, s20); s21 = GemmSimd.Fma(x, y1, s21); s22 = GemmSimd.Fma(x, y2, s22); s23 = GemmSimd.Fma(x, y3, s23);
            }
            if (R > 3)
            {
                x = Vector256.Load(a3 + p);
                s30 = GemmSimd.Fma(x, y0, s30); s31 = GemmSimd.Fma(x, y1, s31); s32 = GemmSimd.Fma(x, y2, s32); s33 = GemmSimd.Fma(x, y3, s33);
            }
        }
        int tail = p;
        Finish(c, alpha, beta, s00, a0, b0, tail, k);
        if (C > 1) { Finish(c + 1, alpha, beta, s01, a0, b1, tail, k); Finish(c + 2, alpha, beta, s02, a0, b2, tail, k); Finish(c + 3, alpha, beta, s03, a0, b3, tail, k); }
        if (R > 1) { T* cr = c + ldc; Finish(cr, alpha, beta, s10, a1, b0, tail, k); Finish(cr + 1, alpha, beta, s11, a1, b1, tail, k); Finish(cr + 2, alpha, beta, s12, a1, b2, tail, k); Finish(cr + 3, alpha, beta, s13, a1, b3, tail, k); }
        if (R > 2) { T* cr = c + 2 * ldc; Finish(cr, alpha, beta, s20, a2, b0, tail, k); Finish(cr + 1, alpha, beta, s21, a2, b1, tail, k); Finish(cr + 2, alpha, beta, s22, a2, b2, tail, k); Finish(cr + 3, alpha, beta, s23, a2, b3, tail, k); }
        if (R > 3) { T* cr = c + 3 * ldc; Finish(cr, alpha, beta, s30, a3, b0, tail, k); Finish(cr + 1, alpha, beta, s31, a3, b1, tail, k); Finish(cr + 2, alpha, beta, s32, a3, b2, tail, k); Finish(cr + 3, alpha, beta, s33, a3, b3, tail, k); }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish<T>(T* c, T alpha, T beta, Vector256<T> partial, T* a, T* b, int tail, int k)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T acc = Vector256.Sum(partial);
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
