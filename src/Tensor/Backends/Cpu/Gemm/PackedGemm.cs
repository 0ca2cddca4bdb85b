using System.Runtime.CompilerServices;
using System.Numerics;

namespace Engine.Backends.Cpu;

/// <summary>
/// Cache-blocked, packed matrix multiply on the CPU for float and double, following the BLIS loop nest
/// (Van Zee and van de Geijn 2015; Goto and van de Geijn, "Anatomy of High-Performance Matrix Multiplication", 2008):
/// NC columns of B, then KC of the depth (pack a KC x NC block of B), then MC rows of A (pack MC x KC),
/// then an MR x NR register tile. Strides are absorbed by packing, so transposed or sliced operands need no copy.
/// </summary>
/// <example><code>PackedGemm.Gemm(m, n, k, 1f, a, k, 1, b, n, 1, 0f, c, n);   // C = A B, all row-major</code></example>
public static unsafe class PackedGemm
{
    /// <summary>The kernel family in use: the fastest this CPU supports, capped by ENGINE_ISA (<see cref="CpuIsa"/>).</summary>
    internal static GemmPath BestPath => PathFor(CpuIsa.Active);

    /// <summary>The micro-kernel family of an instruction-set level.</summary>
    internal static GemmPath PathFor(IsaLevel level) => level switch
    {
        IsaLevel.Avx512 => GemmPath.Avx512,
        IsaLevel.Avx2 => GemmPath.Avx2,
        _ => GemmPath.Vector128,
    };

    /// <summary>
    /// The kernel and cache blocking the float GEMM uses here, for reports:
    /// "Avx512 14x32, KC=384 MC=336 NC=5440 from L1d 48 KiB, L2 1 MiB, L3 32 MiB (sysfs)".
    /// </summary>
    public static string Description => $"{BestPath} {Blocking<float>(BestPath)} from {CpuCaches.Detected}";

    /// <summary>The cache blocking of <paramref name="path"/>'s kernel for <typeparamref name="T"/>.</summary>
    internal static GemmBlocking Blocking<T>(GemmPath path) where T : unmanaged, IFloatingPointIeee754<T> => path switch
    {
        GemmPath.Avx512 => GemmBlocks<T, Avx512MicroKernel<T>>.Value,
        GemmPath.Avx2 => GemmBlocks<T, Avx2MicroKernel<T>>.Value,
        _ => GemmBlocks<T, Vector128MicroKernel<T>>.Value,
    };

    /// <summary>
    /// C[i*ldc + j] = alpha * sum_k A(i,k) B(k,j) + beta * C[i*ldc+j], with A(i,k) = a[i*rsA + k*csA], B(k,j) = b[k*rsB + j*csB].
    /// Arbitrary strides mean a transposed operand is handled by packing, never by a copy. beta==0 ignores C's old contents (NaN-safe).
    /// </summary>
    /// <param name="m">Rows of A and C.</param>
    /// <param name="n">Columns of B and C.</param>
    /// <param name="k">Columns of A, rows of B.</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="a">A's first element.</param>
    /// <param name="rsA">Distance between rows of A, in elements (k for row-major, 1 for a transposed view).</param>
    /// <param name="csA">Distance between columns of A, in elements.</param>
    /// <param name="b">B's first element.</param>
    /// <param name="rsB">Distance between rows of B, in elements.</param>
    /// <param name="csB">Distance between columns of B, in elements.</param>
    /// <param name="beta">Scale of C's old contents; 0 means overwrite.</param>
    /// <param name="c">C's first element; rows are <paramref name="ldc"/> apart, columns contiguous.</param>
    /// <param name="ldc">Distance between rows of C, at least <paramref name="n"/>.</param>
    /// <param name="threads">Threads to use; 0 or less means <see cref="CpuThreading.MaxThreads"/>. Results do not depend on it.</param>
    public static void Gemm(int m, int n, int k, float alpha, float* a, long rsA, long csA, float* b, long rsB, long csB,
        float beta, float* c, long ldc, int threads = 0)
        => Gemm(BestPath, true, m, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc, threads);

    /// <summary>Double-precision <see cref="Gemm(int, int, int, float, float*, long, long, float*, long, long, float, float*, long, int)"/>.</summary>
    /// <inheritdoc cref="Gemm(int, int, int, float, float*, long, long, float*, long, long, float, float*, long, int)"/>
    public static void Gemm(int m, int n, int k, double alpha, double* a, long rsA, long csA, double* b, long rsB, long csB,
        double beta, double* c, long ldc, int threads = 0)
        => Gemm(BestPath, true, m, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc, threads);

    /// <summary>
    /// The same product on a chosen kernel family; <paramref name="allowSmallM"/> false forces the packed
    /// path even for short A. Tests use this to cover every path on one machine.
    /// </summary>
    internal static void Gemm<T>(GemmPath path, bool allowSmallM, int m, int n, int k, T alpha, T* a, long rsA, long csA,
        T* b, long rsB, long csB, T beta, T* c, long ldc, int threads, GemmEpilogue epilogue = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentOutOfRangeException(nameof(m), $"Gemm: [{m},{k}] @ [{k},{n}]: dimensions must be non-negative.");
        if (ldc < n)
            throw new ArgumentOutOfRangeException(nameof(ldc), $"Gemm: ldc {ldc} is less than n {n}; rows of C would overlap.");
        if (m == 0 || n == 0) return;
        if (c == null) throw new ArgumentNullException(nameof(c), "Gemm: C is null.");
        if (k == 0 || T.IsZero(alpha))
        {
            // BLAS convention: the product is not evaluated, so NaN in A or B does not reach C.
            ScaleC(m, n, beta, c, ldc);
            epilogue.Apply(m, n, c, ldc);
            return;
        }
        if (a == null || b == null) throw new ArgumentNullException(a == null ? nameof(a) : nameof(b), "Gemm: an operand is null.");
        if (threads <= 0) threads = CpuThreading.MaxThreads;

        if (allowSmallM && path != GemmPath.Vector128 && m <= SmallMGemm.MaxM)
        {
            if (SmallMGemm.TryRun(path == GemmPath.Avx512, m, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc, threads))
            {
                // A few rows: the activation pass over them is cheap.
                epilogue.Apply(m, n, c, ldc);
                return;
            }
        }
        switch (path)
        {
            case GemmPath.Avx512: Blocked<T, Avx512MicroKernel<T>>(m, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc, threads, epilogue); break;
            case GemmPath.Avx2: Blocked<T, Avx2MicroKernel<T>>(m, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc, threads, epilogue); break;
            default: Blocked<T, Vector128MicroKernel<T>>(m, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc, threads, epilogue); break;
        }
    }

    private static void ScaleC<T>(int m, int n, T beta, T* c, long ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<T>(c + i * ldc, n);
            if (T.IsZero(beta)) row.Clear();
            else for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    private static void Blocked<T, TKernel>(int m, int n, int k, T alpha, T* a, long rsA, long csA, T* b, long rsB, long csB,
        T beta, T* c, long ldc, int threads, GemmEpilogue epilogue)
        where T : unmanaged, IFloatingPointIeee754<T> where TKernel : struct, IGemmMicroKernel<T>
    {
        if (!TKernel.IsSupported)
            throw new PlatformNotSupportedException($"Gemm: the {typeof(TKernel).Name} kernel needs an instruction set this CPU lacks.");
        int mr = TKernel.MR, nr = TKernel.NR;
        int tilesM = (m + mr - 1) / mr, tilesN = (n + nr - 1) / nr;
        // Every thread packs the whole of the operand along the dimension it does not split: all of A (m x k) when
        // the columns are split, all of B (k x n) when the rows are. So split the columns when A is the smaller
        // operand (or the rows are too few to share), the rows otherwise (or when the columns are too few): a Linear
        // of 2048 tokens into 512 features ran 7% faster with its rows split than with its columns.
        bool splitN = tilesM < 2 * threads || tilesN >= 2 * threads && m <= n;
        int parts = GemmThreading.Parts(threads, (long)m * n * k, splitN ? tilesN : tilesM);
        if (parts == 1)
        {
            // On the calling thread, without the closure the parallel form allocates on every call (a decoding step
            // is dozens of products).
            BlockedRange<T, TKernel>(0, m, 0, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc, epilogue);
            return;
        }
        BlockedParallel<T, TKernel>(parts, splitN, m, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc, epilogue);
    }

    /// <summary>The rows or the columns of C cut into <paramref name="parts"/> ranges of whole tiles, one per task.</summary>
    private static void BlockedParallel<T, TKernel>(int parts, bool splitN, int m, int n, int k, T alpha, T* a, long rsA, long csA,
        T* b, long rsB, long csB, T beta, T* c, long ldc, GemmEpilogue epilogue)
        where T : unmanaged, IFloatingPointIeee754<T> where TKernel : struct, IGemmMicroKernel<T>
    {
        int mr = TKernel.MR, nr = TKernel.NR;
        int tilesM = (m + mr - 1) / mr, tilesN = (n + nr - 1) / nr;
        GemmThreading.For(parts, t =>
        {
            if (splitN)
            {
                var (first, last) = GemmThreading.Split(tilesN, parts, t);
                BlockedRange<T, TKernel>(0, m, first * nr, Math.Min(n, last * nr), k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc, epilogue);
            }
            else
            {
                var (first, last) = GemmThreading.Split(tilesM, parts, t);
                BlockedRange<T, TKernel>(first * mr, Math.Min(m, last * mr), 0, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc, epilogue);
            }
        });
    }

    /// <summary>The BLIS loop nest over the C block rows [i0, i1) x columns [j0, j1), on the calling thread.</summary>
    private static void BlockedRange<T, TKernel>(int i0, int i1, int j0, int j1, int k, T alpha, T* a, long rsA, long csA,
        T* b, long rsB, long csB, T beta, T* c, long ldc, GemmEpilogue epilogue)
        where T : unmanaged, IFloatingPointIeee754<T> where TKernel : struct, IGemmMicroKernel<T>
    {
        int nr = TKernel.NR;
        var blocks = GemmBlocks<T, TKernel>.Value;
        // Even depth blocks: k = 300 becomes 150 + 150 rather than 256 + 44, which would starve the kernel. A depth of
        // at most 1.5 KC stays one block: its C tiles then make one trip through the registers instead of two, and
        // the B sliver's overflow of L1 streams from L2 (on a Zen 4, KC = 256, MiniLM's K = 384 products ran at
        // 176-198 GFLOP/s in one block against 162-180 in two).
        int kBlocks = k <= blocks.KC * 3 / 2 ? 1 : (k + blocks.KC - 1) / blocks.KC;
        int kcMax = (k + kBlocks - 1) / kBlocks;
        T* packedA = GemmBuffers<T>.PackedA((long)blocks.MC * kcMax);
        T* edge = stackalloc T[TKernel.MR * nr];
        int width = j1 - j0;
        long panelsB = (long)((width + nr - 1) / nr) * nr;
        int resident = ResidentColumns(i1 - i0, width, k, kBlocks, nr, sizeof(T), blocks);
        if (resident > 0)
        {
            // A short B (a Linear's weight of K = 384) is packed whole, or in as few column chunks as fit next to an A
            // block in L2; then each block of rows runs through every depth block while its C tile is still in cache,
            // so C goes to memory once instead of being stored, reloaded and stored again per depth block (the memory
            // traffic that kept two threads from running such products any faster than one).
            T* packedWhole = GemmBuffers<T>.PackedB((long)resident * k);
            for (int jc = j0; jc < j1; jc += resident)
            {
                int nc = Math.Min(resident, j1 - jc);
                long panels = (long)((nc + nr - 1) / nr) * nr;
                for (int pc = 0; pc < k; pc += kcMax)
                    GemmPacking.PackB(Math.Min(kcMax, k - pc), nc, nr, b + pc * rsB + jc * csB, rsB, csB, packedWhole + panels * pc);
                for (int ic = i0; ic < i1; ic += blocks.MC)
                {
                    int mc = Math.Min(blocks.MC, i1 - ic);
                    for (int pc = 0; pc < k; pc += kcMax)
                        RowBlock<T, TKernel>(mc, nc, Math.Min(kcMax, k - pc), pc, k, alpha, a + ic * rsA + pc * csA, rsA, csA, packedA,
                            packedWhole + panels * pc, beta, c + ic * ldc + jc, ldc, edge, epilogue.ForColumnsFrom(jc));
                }
            }
            return;
        }
        T* packedB = GemmBuffers<T>.PackedB(Math.Min(blocks.NC, panelsB) * kcMax);
        for (int jc = j0; jc < j1; jc += blocks.NC)
        {
            int nc = Math.Min(blocks.NC, j1 - jc);
            for (int pc = 0; pc < k; pc += kcMax)
            {
                int kc = Math.Min(kcMax, k - pc);
                GemmPacking.PackB(kc, nc, nr, b + pc * rsB + jc * csB, rsB, csB, packedB);
                for (int ic = i0; ic < i1; ic += blocks.MC)
                    RowBlock<T, TKernel>(Math.Min(blocks.MC, i1 - ic), nc, kc, pc, k, alpha, a + ic * rsA + pc * csA, rsA, csA, packedA,
                        packedB, beta, c + ic * ldc + jc, ldc, edge, epilogue.ForColumnsFrom(jc));
            }
        }
    }

    /// <summary>
    /// Columns of B to pack whole (all depth blocks) at a time, or 0 for the classic loop nest. All of B when it fits
    /// <see cref="GemmBlocking.ResidentBBytes"/>; otherwise equal chunks that fit, when that moves less memory: each
    /// chunk packs the rows x k block of A again, while the classic nest stores and reloads C once per depth block.
    /// </summary>
    internal static int ResidentColumns(int rows, int width, int k, int kBlocks, int nr, int elementBytes, GemmBlocking blocks)
    {
        if (width > blocks.NC) return 0;
        long panels = (long)((width + nr - 1) / nr) * nr;
        long fit = blocks.ResidentBBytes / ((long)k * elementBytes) / nr * nr;
        if (fit >= panels) return (int)panels;
        if (fit < nr) return 0;
        long passes = (panels + fit - 1) / fit;
        // Elements moved: packing A reads and writes each element once per pass; C is written once, plus a reload and
        // a store for every depth block after the first in the classic nest.
        double chunked = 2.0 * rows * k * passes + (double)rows * width;
        double classic = 2.0 * rows * k + (double)rows * width * (2 * kBlocks - 1);
        if (chunked >= classic) return 0;
        // Even chunks: 768 columns in 320-wide pieces would leave a thin last one; 3 x 256 runs at full width.
        return (int)((panels / nr + passes - 1) / passes * nr);
    }

    /// <summary>
    /// One block of A rows at depth block [pc, pc + kc), packed, against a packed B block. Later depth blocks add onto
    /// what the first one stored (beta 1); the epilogue runs on each tile after its last depth block, while it is in cache.
    /// </summary>
    private static void RowBlock<T, TKernel>(int mc, int nc, int kc, int pc, int k, T alpha, T* aBlock, long rsA, long csA, T* packedA,
        T* packedB, T beta, T* cBlock, long ldc, T* edge, GemmEpilogue epilogue)
        where T : unmanaged, IFloatingPointIeee754<T> where TKernel : struct, IGemmMicroKernel<T>
    {
        T blockBeta = pc == 0 ? beta : T.One;
        var blockEpilogue = pc + kc >= k ? epilogue : GemmEpilogue.None;
        int mr = TKernel.MR, whole = mc / mr * mr;
        if (ReadsAInPlace<T, TKernel>(rsA, csA, nc) && whole > 0)
        {
            // A is read in place, whole panels of MR rows; only a last partial panel is packed (zero-padded).
            MacroKernel<T, TKernel>(whole, nc, kc, alpha, aBlock, rsA, csA, packedB, blockBeta, cBlock, ldc, edge, blockEpilogue);
            if (whole == mc) return;
            GemmPacking.PackA(mc - whole, kc, mr, aBlock + whole * rsA, rsA, csA, packedA);
            MacroKernel<T, TKernel>(mc - whole, nc, kc, alpha, packedA, packedB, blockBeta, cBlock + whole * ldc, ldc, edge, blockEpilogue);
            return;
        }
        GemmPacking.PackA(mc, kc, mr, aBlock, rsA, csA, packedA);
        MacroKernel<T, TKernel>(mc, nc, kc, alpha, packedA, packedB, blockBeta, cBlock, ldc, edge, blockEpilogue);
    }

    /// <summary>
    /// Whether a block of A (row stride <paramref name="rsA"/>, column stride <paramref name="csA"/>) is read where it
    /// lies rather than packed, against <paramref name="columns"/> columns of B. Packing turns A's rows into one
    /// contiguous stream that every B panel re-reads from cache; read in place, each B panel re-reads them where
    /// they lie. So A is read in place only when it is met by at most <see cref="MaxPanelsForAInPlace"/> B panels,
    /// and either column-major (each k step's MR values are contiguous: one or two cache lines per step, which the
    /// kernel's 6 to 28 cycles of FMAs per step hide) or row-major with its MR rows not crowding one L1 set (packing
    /// such an A is a transposing copy; rows 4 KiB apart, as in a 1024-wide A, all share one set and evict each
    /// other: 1024^3 ran at 160 GFLOP/s in place against 200 packed on two Zen 4 cores, while a Linear's 128-512
    /// outputs ran 5-15% faster in place). A broadcast A (rows 0 apart) is packed.
    /// </summary>
    internal static bool ReadsAInPlace<T, TKernel>(long rsA, long csA, int columns) where T : unmanaged where TKernel : struct, IGemmMicroKernel<T>
        => TKernel.ReadsAInPlace && rsA != 0 && columns <= MaxPanelsForAInPlace * TKernel.NR
            && (rsA == 1 || csA == 1 && CpuCaches.Detected.RowsPerL1Set(TKernel.MR, rsA * Unsafe.SizeOf<T>()) < CpuCaches.Detected.L1Ways);

    /// <summary>The most B panels (of NR columns) that meet an A block read in place; see <see cref="ReadsAInPlace{T, TKernel}"/>.</summary>
    internal const int MaxPanelsForAInPlace = 16;

    /// <summary>All micro-tiles of one packed A block against one packed B block.</summary>
    internal static void MacroKernel<T, TKernel>(int mc, int nc, int kc, T alpha, T* packedA, T* packedB, T beta, T* c, long ldc, T* edge,
        GemmEpilogue epilogue = default)
        where T : unmanaged, IFloatingPointIeee754<T> where TKernel : struct, IGemmMicroKernel<T>
        => MacroKernel<T, TKernel>(mc, nc, kc, alpha, packedA, 0, 0, packedB, beta, c, ldc, edge, epilogue);

    /// <summary>
    /// All micro-tiles of one block of A against one packed B block: A packed (<paramref name="rsA"/> 0, panels of MR
    /// rows kc steps deep), or read where it lies, A(i, p) = a[i rsA + p csA]
    /// (<see cref="IGemmMicroKernel{T}.RunInPlaceA"/>; <paramref name="mc"/> a multiple of MR).
    /// </summary>
    static void MacroKernel<T, TKernel>(int mc, int nc, int kc, T alpha, T* a, long rsA, long csA, T* packedB, T beta, T* c, long ldc, T* edge,
        GemmEpilogue epilogue)
        where T : unmanaged, IFloatingPointIeee754<T> where TKernel : struct, IGemmMicroKernel<T>
    {
        int mr = TKernel.MR, nr = TKernel.NR;
        long panelStride = rsA == 0 ? kc : rsA;
        if (epilogue.RowBias != null && typeof(T) != typeof(float))
            throw new NotSupportedException($"Gemm: the {epilogue} epilogue is implemented for Float32 only");
        // The row bias goes into the kernel's stores; only an activation is a pass over the finished tile.
        var activation = GemmEpilogue.Of(epilogue.Activation);
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            T* bPanel = packedB + (long)jr * kc;
            T* tileBias = epilogue.RowBias == null ? null : (T*)(epilogue.RowBias + jr);
            for (int ir = 0; ir < mc; ir += mr)
            {
                int rows = Math.Min(mr, mc - ir);
                T* aPanel = a + ir * panelStride;
                T* cTile = c + ir * ldc + jr;
                Tile<T, TKernel>(kc, aPanel, rsA, csA, bPanel, alpha, beta, cTile, ldc, rows, cols, edge, tileBias);
                activation.Apply(rows, cols, cTile, ldc);
            }
        }
    }

    /// <summary>
    /// One rows x cols tile of C = alpha A B + beta C (+ <paramref name="rowBias"/>[j] in column j, added last; null
    /// for none) over kc steps: A a packed panel (<paramref name="rsA"/> 0) or MR rows read in place,
    /// A(i, p) = a[i rsA + p csA]; B a packed panel. An edge tile is computed whole into <paramref name="edge"/>, then
    /// only its valid part updates C.
    /// </summary>
    internal static void Tile<T, TKernel>(int kc, T* a, long rsA, long csA, T* b, T alpha, T beta, T* cTile, long ldc, int rows, int cols, T* edge,
        T* rowBias = null)
        where T : unmanaged, IFloatingPointIeee754<T> where TKernel : struct, IGemmMicroKernel<T>
    {
        int nr = TKernel.NR;
        bool whole = rows == TKernel.MR && cols == nr;
        T* target = whole ? cTile : edge;
        long ldTarget = whole ? ldc : nr;
        T tileAlpha = whole ? alpha : T.One, tileBeta = whole ? beta : T.Zero;
        T* kernelBias = whole ? rowBias : null;
        if (rsA == 0) TKernel.Run(kc, a, b, target, ldTarget, tileAlpha, tileBeta, kernelBias);
        else TKernel.RunInPlaceA(kc, a, rsA, csA, b, target, ldTarget, tileAlpha, tileBeta, kernelBias);
        if (whole) return;
        for (int ii = 0; ii < rows; ii++)
            for (int jj = 0; jj < cols; jj++)
            {
                T* cij = cTile + ii * ldc + jj;
                *cij = GemmSimd.Update(edge[ii * nr + jj], alpha, beta, *cij);
                if (rowBias != null) *cij += rowBias[jj];
            }
    }
}
