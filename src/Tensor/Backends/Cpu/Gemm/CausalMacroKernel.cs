using System.Numerics;

namespace Engine.Backends.Cpu;

/// <summary>
/// How a causal mask shapes one of attention's products for a block of query rows whose first row sits at absolute
/// position <see cref="Diagonal"/> (past + i0): query row r sees keys up to Diagonal + r.
/// </summary>
internal enum CausalProduct
{
    /// <summary>C is [rows, keys] (scores S = Q K^T, dP = dY V^T): tiles wholly after the diagonal are not computed.</summary>
    RowsByKeys,
    /// <summary>C is [rows, D], the depth runs over keys (dQ = dS K): row tile i reads only keys up to its last row's.</summary>
    KeysAsDepth,
    /// <summary>C is [keys, D], the depth runs over query rows (dV = P^T dY, dK = dS^T Q): key tile j reads only rows that see it.</summary>
    RowsAsDepth,
}

/// <summary>
/// <c>PackedGemm.MacroKernel</c> for the products of causal attention, which skips the micro-tiles
/// and depth steps that the mask makes zero: nearly half of a causal self-attention's work (Dao et al. 2022,
/// FlashAttention, skips masked blocks the same way). The masked parts of the inputs must hold zeros (P and dS past
/// the diagonal) wherever a tile still reads them; a skipped [rows, keys] tile leaves C as it was, which the caller
/// masks or ignores.
/// </summary>
internal static unsafe class CausalMacroKernel
{
    /// <summary>The depth steps [from, to) that A's rows [ir, ir + rows) meet with a nonzero factor.</summary>
    static (int From, int To) DepthSteps(CausalProduct product, int diagonal, int ir, int rows, int kc) => product switch
    {
        // The tile's last row sees keys up to diagonal + ir + rows - 1.
        CausalProduct.KeysAsDepth => (0, Math.Clamp(diagonal + ir + rows, 0, kc)),
        // Key ir (the tile's first) is first seen by row ir - diagonal.
        CausalProduct.RowsAsDepth => (Math.Clamp(ir - diagonal, 0, kc), kc),
        _ => (0, kc),
    };

    /// <summary>
    /// <see cref="GemmPacking.PackA{T}"/> of only the depth steps <see cref="Run{T, TKernel}"/> reads for each panel
    /// (the same layout; the steps it skips are left unwritten): P and dS past the diagonal are not copied.
    /// </summary>
    public static void PackA<T>(CausalProduct product, int diagonal, int mc, int kc, int mr, T* a, long rsA, long csA, T* dst)
        where T : unmanaged
    {
        if (product == CausalProduct.RowsByKeys)
        {
            GemmPacking.PackA(mc, kc, mr, a, rsA, csA, dst);
            return;
        }
        for (int ir = 0; ir < mc; ir += mr)
        {
            int rows = Math.Min(mr, mc - ir);
            var (from, to) = DepthSteps(product, diagonal, ir, rows, kc);
            if (from < to) GemmPacking.PackA(rows, to - from, mr, a + ir * rsA + from * csA, rsA, csA, dst + (long)ir * kc + (long)from * mr);
        }
    }

    /// <summary>
    /// C = alpha A B + beta C for [m, depth] A (strided) and B packed (<see cref="GemmPacking.PackB{T}"/>), with the
    /// causal mask's tiles and depth steps skipped. A is read in place where the GEMM would
    /// (<see cref="PackedGemm.ReadsAInPlace{T, TKernel}"/>, whole panels of MR rows); the rest is packed, only the
    /// depth steps that are read.
    /// </summary>
    public static void Multiply<T, TKernel>(CausalProduct product, int diagonal, int m, int n, int depth, T alpha, T* a, long rsA, long csA,
        T* packedB, T beta, T* c, long ldc, T* edge)
        where T : unmanaged, IFloatingPointIeee754<T> where TKernel : struct, IGemmMicroKernel<T>
    {
        int mr = TKernel.MR;
        int inPlace = PackedGemm.ReadsAInPlace<T, TKernel>(rsA, csA, n) ? m / mr * mr : 0;
        if (inPlace > 0) Run<T, TKernel>(product, diagonal, inPlace, n, depth, alpha, a, rsA, csA, packedB, beta, c, ldc, edge);
        if (inPlace == m) return;
        // The packed rows start at row inPlace: query rows see later keys, key rows are seen by earlier queries.
        int shifted = product == CausalProduct.RowsAsDepth ? diagonal - inPlace : diagonal + inPlace;
        T* packedA = GemmBuffers<T>.PackedA((long)((m - inPlace + mr - 1) / mr * mr) * depth);
        PackA(product, shifted, m - inPlace, depth, mr, a + inPlace * rsA, rsA, csA, packedA);
        Run<T, TKernel>(product, shifted, m - inPlace, n, depth, alpha, packedA, 0, 0, packedB, beta, c + inPlace * ldc, ldc, edge);
    }

    /// <summary>
    /// All tiles of [mc, kc] A against packed B: A packed (<paramref name="rsA"/> 0) or read in place,
    /// A(i, p) = a[i rsA + p csA] (mc a multiple of MR).
    /// </summary>
    internal static void Run<T, TKernel>(CausalProduct product, int diagonal, int mc, int nc, int kc, T alpha, T* a, long rsA, long csA, T* packedB,
        T beta, T* c, long ldc, T* edge)
        where T : unmanaged, IFloatingPointIeee754<T> where TKernel : struct, IGemmMicroKernel<T>
    {
        int mr = TKernel.MR, nr = TKernel.NR;
        long panelStride = rsA == 0 ? kc : rsA, stepStride = rsA == 0 ? mr : csA;
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            T* bPanel = packedB + (long)jr * kc;
            for (int ir = 0; ir < mc; ir += mr)
            {
                int rows = Math.Min(mr, mc - ir);
                // Every key of the tile is after every row's diagonal.
                if (product == CausalProduct.RowsByKeys && jr > diagonal + ir + rows - 1) continue;
                var (from, to) = DepthSteps(product, diagonal, ir, rows, kc);
                T* cTile = c + ir * ldc + jr;
                if (from >= to)
                {
                    // No depth step reaches this tile: C = beta C, and beta 1 leaves it as it is.
                    if (beta != T.One)
                        for (int ii = 0; ii < rows; ii++)
                            for (int jj = 0; jj < cols; jj++)
                                cTile[ii * ldc + jj] = T.IsZero(beta) ? T.Zero : beta * cTile[ii * ldc + jj];
                    continue;
                }
                T* aPanel = a + ir * panelStride + from * stepStride;
                T* bSteps = bPanel + (long)from * nr;
                PackedGemm.Tile<T, TKernel>(to - from, aPanel, rsA, csA, bSteps, alpha, beta, cTile, ldc, rows, cols, edge);
            }
        }
    }
}
