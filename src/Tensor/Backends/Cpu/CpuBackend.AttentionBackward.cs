using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>
    /// Gradients of <see cref="Attention"/> for q [B, H, T, D], k and v [B, H, T_keys, D] (any strides), given its
    /// output y and the output's gradient dy (both [B, T, H, D], contiguous), into contiguous dq [B, H, T, D] and
    /// dk, dv [B, H, T_keys, D] whose memory is in [B, T, H, D] order (the Transpose(1, 2) views of contiguous
    /// [B, T, H, D] tensors, so the gradient of the usual head split is a view, not a copy). FlashAttention's backward (Dao et al. 2022, algorithm 4; Dao 2023, section 3.1.2),
    /// one head per task and a block of query rows at a time: P is recomputed from q and k rather than read back as
    /// a [B, H, T, T_keys] tensor, and with D_i = dy_i . y_i,
    /// dV = P^T dY, dP = dY V^T, dS = P o (dP - D), dQ = scale dS K, dK = scale dS^T Q.
    /// Each block's P and dP stay in per-thread buffers of rows x T_keys.
    /// </summary>
    public unsafe void AttentionBackward(StridedView q, StridedView k, StridedView v, StridedView? keyBias, bool causal, int past, double scale,
        StridedView y, StridedView dy, StridedView dq, StridedView dk, StridedView dv)
    {
        switch (y.Storage.DType)
        {
            case DType.Float32: AttentionBackward<float>(q, k, v, keyBias, causal, past, (float)scale, y, dy, dq, dk, dv); break;
            case DType.Float64: AttentionBackward<double>(q, k, v, keyBias, causal, past, scale, y, dy, dq, dk, dv); break;
            default: throw new NotSupportedException($"AttentionBackward: not defined for {y.Storage.DType.Name()} tensors");
        }
    }

    unsafe void AttentionBackward<T>(StridedView q, StridedView k, StridedView v, StridedView? keyBias, bool causal, int past, T scale,
        StridedView y, StridedView dy, StridedView dq, StridedView dk, StridedView dv)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = q.Shape[0], heads = q.Shape[1], t = q.Shape[2], d = q.Shape[3], tk = k.Shape[2];
        if (q.Numel == 0 || k.Numel == 0) return;
        var (Q, K, V, Y, DY) = (Cpu(q).Array<T>(), Cpu(k).Array<T>(), Cpu(v).Array<T>(), Cpu(y).Array<T>(), Cpu(dy).Array<T>());
        var (DQ, DK, DV) = (Cpu(dq).Array<T>(), Cpu(dk).Array<T>(), Cpu(dv).Array<T>());
        if (dq.Strides[2] != (long)heads * d || dk.Strides[2] != (long)heads * d || dv.Strides[2] != (long)heads * d || dq.Strides[3] != 1 || dk.Strides[3] != 1 || dv.Strides[3] != 1)
            throw new ArgumentException("AttentionBackward: dq, dk and dv must be [B, H, T, D] views of contiguous [B, T, H, D] tensors");
        var bias = keyBias is { } kb ? Cpu(kb).Array<T>() : null;
        long biasOffset = keyBias?.Offset ?? 0;
        long work = (long)batch * heads * t * tk * d * 5;
        CpuThreading.For((long)batch * heads, work, (first, last) =>
        {
            fixed (T* pq = Q, pk = K, pv = V, py = Y, pdy = DY, pdq = DQ, pdk = DK, pdv = DV, pbias = bias)
                for (long i = first; i < last; i++)
                {
                    int b = (int)(i / heads), h = (int)(i % heads);
                    long rowsOfY = ((long)b * t * heads + h) * d;
                    var head = new AttentionHead<T>(
                        pq + q.Offset + b * q.Strides[0] + h * q.Strides[1], q.Strides[2], q.Strides[3],
                        pk + k.Offset + b * k.Strides[0] + h * k.Strides[1], k.Strides[2], k.Strides[3],
                        pv + v.Offset + b * v.Strides[0] + h * v.Strides[1], v.Strides[2], v.Strides[3],
                        pbias == null ? null : pbias + biasOffset + (long)b * tk,
                        py + y.Offset + rowsOfY, (long)heads * d,
                        t, tk, d, scale, causal, past);
                    var gradients = new AttentionHeadGradients<T>(pdy + dy.Offset + rowsOfY,
                        pdq + dq.Offset + b * dq.Strides[0] + h * dq.Strides[1], pdk + dk.Offset + b * dk.Strides[0] + h * dk.Strides[1],
                        pdv + dv.Offset + b * dv.Strides[0] + h * dv.Strides[1]);
                    switch (PackedGemm.BestPath)
                    {
                        case GemmPath.Avx512: head.Backward<Avx512MicroKernel<T>>(gradients); break;
                        case GemmPath.Avx2: head.Backward<Avx2MicroKernel<T>>(gradients); break;
                        default: head.Backward<Vector128MicroKernel<T>>(gradients); break;
                    }
                }
        });
    }

    /// <summary>One head's output gradient rows and its dq [T, D], dk and dv [T_keys, D], all with the output's row stride H D.</summary>
    readonly unsafe struct AttentionHeadGradients<T>(T* dy, T* dq, T* dk, T* dv) where T : unmanaged
    {
        public readonly T* Dy = dy, Dq = dq, Dk = dk, Dv = dv;
    }

    readonly unsafe partial struct AttentionHead<T>
    {
        public void Backward<TKernel>(AttentionHeadGradients<T> g) where TKernel : struct, IGemmMicroKernel<T>
        {
            // Whole MC blocks of query rows: with the causal mask, the products skip the masked tiles and depth steps
            // inside the block (CausalMacroKernel) instead of cutting it into smaller blocks, which cost more in
            // packing and calls than the hidden keys saved (measured on the tiny GPT: 23 against 32 ms per step).
            int rowsPerBlock = GemmBlocks<T, TKernel>.Value.MC;
            int ld = tk;
            T* p = GemmBuffers<T>.Scratch((long)Math.Min(rowsPerBlock, t) * ld);
            T* dp = GemmBuffers<T>.GradientScratch((long)Math.Min(rowsPerBlock, t) * ld);
            T* edge = stackalloc T[TKernel.MR * TKernel.NR];
            for (int i0 = 0; i0 < t; i0 += rowsPerBlock)
            {
                // Keys after `keys` have weight 0 for every row of the block (causal mask) and get nothing from it.
                int rows = Math.Min(rowsPerBlock, t - i0), keys = VisibleKeys(i0, rows), diagonal = Diagonal(i0);
                T* dyBlock = g.Dy + i0 * ldY;
                Probabilities<TKernel>(i0, rows, keys, p, ld, edge);
                // dV += P^T dY (dk and dv start at zero)
                Product<TKernel>(CausalProduct.RowsAsDepth, diagonal, keys, d, rows, T.One, p, 1, ld, dyBlock, ldY, 1, T.One, g.Dv, ldY, edge);
                // dP = dY V^T, left unwritten past the diagonal
                Product<TKernel>(CausalProduct.RowsByKeys, diagonal, rows, keys, d, T.One, dyBlock, ldY, 1, v, csV, rsV, T.Zero, dp, ld, edge);
                // dS = P o (dP - D), D_r = sum_j P_rj dP_rj (the softmax's Jacobian applied row by row), in place in dP.
                // D_r equals dy_r . y_r in exact arithmetic (FlashAttention uses that); summing P dP instead rounds as
                // the composed softmax backward does, which keeps the gradients within float32 noise of PyTorch's.
                // Past the diagonal dS is 0, which the two products below read.
                for (int r = 0; r < rows; r++)
                {
                    int seen = causal ? Math.Clamp(past + i0 + r + 1, 0, keys) : keys;
                    SoftmaxGradientRow(p + (long)r * ld, dp + (long)r * ld, seen);
                    new Span<T>(dp + (long)r * ld + seen, keys - seen).Clear();
                }
                // dQ = scale dS K
                Product<TKernel>(CausalProduct.KeysAsDepth, diagonal, rows, d, keys, scale, dp, ld, 1, k, rsK, csK, T.Zero, g.Dq + i0 * ldY, ldY, edge);
                // dK += scale dS^T Q
                Product<TKernel>(CausalProduct.RowsAsDepth, diagonal, keys, d, rows, scale, dp, 1, ld, q + i0 * rsQ, rsQ, csQ, T.One, g.Dk, ldY, edge);
            }
        }

        /// <summary>
        /// dS = P o (dP - D), D = sum_j P_j dP_j, in place in <paramref name="dp"/> over <paramref name="n"/> weights:
        /// Float32 rows through the vector kernel (<see cref="AttentionRows.SoftmaxGradient{TV, TLanes}"/>), others
        /// through library calls.
        /// </summary>
        static void SoftmaxGradientRow(T* p, T* dp, int n)
        {
            if (typeof(T) == typeof(float))
                switch (AttentionRows.Use)
                {
                    case 16: AttentionRows.SoftmaxGradient<Vector512<float>, Float512Lanes>((float*)p, (float*)dp, n); return;
                    case 8: AttentionRows.SoftmaxGradient<Vector256<float>, Float256Lanes>((float*)p, (float*)dp, n); return;
                }
            var dpRow = new Span<T>(dp, n);
            var pRow = new ReadOnlySpan<T>(p, n);
            T rowDot = TensorPrimitives.Dot(pRow, dpRow);
            TensorPrimitives.Subtract(dpRow, rowDot, dpRow);
            TensorPrimitives.Multiply(dpRow, pRow, dpRow);
        }
    }
}
