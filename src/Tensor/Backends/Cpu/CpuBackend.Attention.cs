using System.Numerics;
using System.Runtime.Intrinsics;

namespace Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>
    /// Scaled dot-product attention for inference, one head at a time: y[b, t, h, :] = softmax(scale q k^T + key bias
    /// + causal mask) v for q [B, H, T, D], k and v [B, H, T_keys, D] (any strides) into y [B, T, H, D] (contiguous,
    /// the layout the output projection reads). <paramref name="keyBias"/> [B, T_keys] (contiguous, 0 or -inf) may be
    /// null; with <paramref name="causal"/> query i (at position past + i) sees keys 0..past + i.
    /// <para>
    /// Why fused: the composed form runs a batched product per head, a scale, a mask add, a softmax and a second
    /// product, each a trip through memory of [B, H, T, T_keys] scores and each with per-call overhead that dominates
    /// at head size 32. Here a block of query rows keeps its scores in a per-thread buffer between the two products,
    /// which reuse the GEMM's packing and register-tile kernels (<see cref="PackedGemm"/>), and heads run in parallel.
    /// </para>
    /// </summary>
    public unsafe void Attention(StridedView q, StridedView k, StridedView v, StridedView? keyBias, bool causal, int past, double scale, StridedView y)
    {
        switch (y.Storage.DType)
        {
            case DType.Float32: Attention<float>(q, k, v, keyBias, causal, past, (float)scale, y); break;
            case DType.Float64: Attention<double>(q, k, v, keyBias, causal, past, scale, y); break;
            default: throw new NotSupportedException($"Attention: not defined for {y.Storage.DType.Name()} tensors");
        }
    }

    unsafe void Attention<T>(StridedView q, StridedView k, StridedView v, StridedView? keyBias, bool causal, int past, T scale, StridedView y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = q.Shape[0], heads = q.Shape[1], t = q.Shape[2], d = q.Shape[3], tk = k.Shape[2];
        if (y.Numel == 0) return;
        var (Q, K, V, Y) = (Cpu(q).Array<T>(), Cpu(k).Array<T>(), Cpu(v).Array<T>(), Cpu(y).Array<T>());
        var bias = keyBias is { } kb ? Cpu(kb).Array<T>() : null;
        long biasOffset = keyBias?.Offset ?? 0;
        long work = (long)batch * heads * t * tk * d * 2;
        CpuThreading.For((long)batch * heads, work, (first, last) =>
        {
            fixed (T* pq = Q, pk = K, pv = V, py = Y, pbias = bias)
                for (long i = first; i < last; i++)
                {
                    int b = (int)(i / heads), h = (int)(i % heads);
                    var head = new AttentionHead<T>(
                        pq + q.Offset + b * q.Strides[0] + h * q.Strides[1], q.Strides[2], q.Strides[3],
                        pk + k.Offset + b * k.Strides[0] + h * k.Strides[1], k.Strides[2], k.Strides[3],
                        pv + v.Offset + b * v.Strides[0] + h * v.Strides[1], v.Strides[2], v.Strides[3],
                        pbias == null ? null : pbias + biasOffset + (long)b * tk,
                        py + y.Offset + ((long)b * t * heads + h) * d, (long)heads * d,
                        t, tk, d, scale, causal, past);
                    switch (PackedGemm.BestPath)
                    {
                        case GemmPath.Avx512: head.Run<Avx512MicroKernel<T>>(); break;
                        case GemmPath.Avx2: head.Run<Avx2MicroKernel<T>>(); break;
                        default: head.Run<Vector128MicroKernel<T>>(); break;
                    }
                }
        });
    }

    /// <summary>One head's attention: pointers to its q, k, v (row and column strides), key bias and output rows.</summary>
    readonly unsafe partial struct AttentionHead<T>(T* q, long rsQ, long csQ, T* k, long rsK, long csK, T* v, long rsV, long csV,
        T* keyBias, T* y, long ldY, int t, int tk, int d, T scale, bool causal, int past)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run<TKernel>() where TKernel : struct, IGemmMicroKernel<T>
        {
            int mr = TKernel.MR, nr = TKernel.NR;
            int rowsPerBlock = RowsPerBlock<TKernel>();
            int ldS = tk;
            T* scores = GemmBuffers<T>.Scratch((long)Math.Min(rowsPerBlock, t) * ldS);
            T* edge = stackalloc T[mr * nr];
            for (int i0 = 0; i0 < t; i0 += rowsPerBlock)
            {
                int rows = Math.Min(rowsPerBlock, t - i0), keys = VisibleKeys(i0, rows);
                Probabilities<TKernel>(i0, rows, keys, scores, ldS, edge);
                // Output rows: Y = P V, written straight into the heads-concatenated layout.
                Product<TKernel>(CausalProduct.KeysAsDepth, Diagonal(i0), rows, d, keys, T.One, scores, ldS, 1, v, rsV, csV, T.Zero, y + i0 * ldY, ldY, edge);
            }
        }

        /// <summary>
        /// Query rows per block: the GEMM's MC, or with the causal mask a few register tiles, so that each block skips
        /// the keys after its last query (a block of rows [i0, i0 + rows) sees keys up to past + i0 + rows - 1), which
        /// saves nearly half of the work of a causal self-attention.
        /// </summary>
        int RowsPerBlock<TKernel>() where TKernel : struct, IGemmMicroKernel<T>
            => causal ? Math.Min(GemmBlocks<T, TKernel>.Value.MC, 4 * TKernel.MR) : GemmBlocks<T, TKernel>.Value.MC;

        /// <summary>The keys that query rows [i0, i0 + rows) may see: all, or with the causal mask those up to the last row's position.</summary>
        int VisibleKeys(int i0, int rows) => causal ? Math.Min(tk, past + i0 + rows) : tk;

        /// <summary>
        /// C = alpha A B + beta C for [m, depth] A and [depth, n] B of one head (strided): B packed whole, A read in
        /// place or packed, and the causal mask's tiles skipped (<see cref="CausalMacroKernel"/>).
        /// </summary>
        void Product<TKernel>(CausalProduct product, int diagonal, int m, int n, int depth, T alpha, T* a, long rsA, long csA,
            T* b, long rsB, long csB, T beta, T* c, long ldc, T* edge) where TKernel : struct, IGemmMicroKernel<T>
        {
            T* packedB = GemmBuffers<T>.PackedB((long)RoundUp(n, TKernel.NR) * depth);
            GemmPacking.PackB(depth, n, TKernel.NR, b, rsB, csB, packedB);
            CausalMacroKernel.Multiply<T, TKernel>(product, diagonal, m, n, depth, alpha, a, rsA, csA, packedB, beta, c, ldc, edge);
        }

        /// <summary>
        /// The position of query row i0 (row i0 + r sees keys up to Diagonal + r), for <see cref="CausalMacroKernel"/>;
        /// without the causal mask a position past every key, so that no tile is skipped.
        /// </summary>
        int Diagonal(int i0) => causal ? past + i0 : int.MaxValue / 2;

        /// <summary>
        /// The attention weights of query rows [i0, i0 + rows) over the first <paramref name="keys"/> keys (the later
        /// ones, hidden by the causal mask, have weight 0): P = softmax(scale Q K^T + key bias + causal mask) into
        /// <paramref name="p"/> (rows <paramref name="ldP"/> apart). The forward and the backward (which recomputes P
        /// rather than keeping [B, H, T, T_keys] from the forward) share it, so both see the same weights.
        /// </summary>
        public void Probabilities<TKernel>(int i0, int rows, int keys, T* p, int ldP, T* edge) where TKernel : struct, IGemmMicroKernel<T>
        {
            // Scores: S = scale Q K^T for this block of query rows (B(kk, j) = K[j, kk]: the transposed strides).
            // Tiles wholly after the diagonal are skipped; the loop below writes their weights as 0.
            Product<TKernel>(CausalProduct.RowsByKeys, Diagonal(i0), rows, keys, d, scale, q + i0 * rsQ, rsQ, csQ, k, csK, rsK, T.Zero, p, ldP, edge);
            for (int r = 0; r < rows; r++)
            {
                // Query i0 + r sits at position past + i0 + r and may not see later keys: their weights are 0, and the
                // softmax runs over the keys it sees (half the exponentials of a causal self-attention).
                int seen = causal ? Math.Clamp(past + i0 + r + 1, 0, keys) : keys;
                var row = new Span<T>(p + (long)r * ldP, seen);
                SoftmaxRow(p + (long)r * ldP, seen, keyBias);
                // A row whose seen keys are all masked (or whose scores hold NaN) is NaN throughout, as the composed softmax gives.
                var hidden = new Span<T>(p + (long)r * ldP + seen, keys - seen);
                if (seen > 0 && T.IsNaN(row[0])) hidden.Fill(T.NaN);
                else hidden.Clear();
            }
        }

        /// <summary>
        /// softmax(row + bias) in place over <paramref name="n"/> scores: Float32 rows through the vector kernel
        /// (<see cref="AttentionRows.Softmax{TV, TLanes}"/>), others through the library softmax.
        /// </summary>
        static void SoftmaxRow(T* row, int n, T* bias)
        {
            if (typeof(T) == typeof(float))
                switch (AttentionRows.Use)
                {
                    case 16: AttentionRows.Softmax<Vector512<float>, Float512Lanes>((float*)row, n, (float*)bias); return;
                    case 8: AttentionRows.Softmax<Vector256<float>, Float256Lanes>((float*)row, n, (float*)bias); return;
                }
            var span = new Span<T>(row, n);
            if (bias != null) System.Numerics.Tensors.TensorPrimitives.Add(span, new ReadOnlySpan<T>(bias, n), span);
            new SoftmaxRows<T>(false).Apply<T>(span, span);
        }

        internal static int RoundUp(int n, int multiple) => (n + multiple - 1) / multiple * multiple;
    }
}
