namespace Engine.Nn;

public static partial class DeltaRule
{
    /// <summary>
    /// The same recurrence as <see cref="Recurrent"/>, computed chunk by chunk with matrix products (Yang et al. 2024,
    /// DeltaNet, the chunkwise parallel form; the gated terms as in Gated DeltaNet's chunkwise algorithm). DeltaProduct is DeltaNet on the
    /// interleaved sequence of T n_h Householder steps whose output is read after each token's last step (Siems et al.
    /// 2025), so chunks are <paramref name="chunkSize"/> steps long. A sequence that is not a multiple of the
    /// chunk is padded with steps whose beta, key, value and log-decay are 0: identity transitions that leave the state as
    /// it is, whose outputs are dropped. Returns the outputs [B, H, T, d_v] and the final state [B, H, d_k, d_v].
    /// </summary>
    public static (Tensor Output, Tensor State) Chunked(Tensor q, Tensor k, Tensor v, Tensor beta, Tensor? logAlpha = null, Tensor? initialState = null, int chunkSize = 64)
    {
        var (b, h, t, n, dk, dv) = CheckShapes("DeltaRule.Chunked", q, k, v, beta, logAlpha, initialState);
        if (chunkSize < 1) throw new ArgumentException($"DeltaRule.Chunked: the chunk size must be positive, got {chunkSize}");
        var s = initialState ?? Tensor.Zeros([b, h, dk, dv], k.DType);
        if (t == 0) return (Tensor.Zeros([b, h, 0, dv], k.DType), s);

        int length = t * n, c = Math.Min(chunkSize, length), chunks = (length + c - 1) / c, pad = chunks * c - length;
        // Every step of a token reads the token's query; only the last step's output is kept.
        var queries = n == 1 ? q : q.Unsqueeze(3).Expand(b, h, t, n, dk).Reshape(b, h, length, dk);
        // [B, H, steps, d] to [B, H, chunks, c, d], zero steps appended.
        Tensor Chunks(Tensor x, int d) => x.Reshape(b, h, length, d).Pad([0, 0, 0, pad]).Reshape(b, h, chunks, c, d);
        var qc = Chunks(queries, dk);
        var kc = Chunks(k, dk);
        var vc = Chunks(v, dv);
        var bc = beta.Reshape(b, h, length).Pad([0, pad]).Reshape(b, h, chunks, c);

        // Everything that does not depend on the state is computed for all chunks at once.
        // Causal scores q_i . k_j for j <= i.
        var scores = qc.MatMul(kc.MT).Tril();
        Tensor u, w, keysToEnd;
        Tensor? decay = null, total = null;
        if (logAlpha is null)
        {
            // The product of a chunk's Householder factors is I - K^T W with W = T K, and U = T V (the WY
            // representation, DeltaNet), T = (I + StrictLower(diag(b) K K^T))^{-1} diag(b). One triangular solve with
            // both right-hand sides diag(b) K and diag(b) V gives W and U without forming T.
            var strictLower = bc.Unsqueeze(-1) * kc.MatMul(kc.MT);
            var both = Tensor.SolveTriangular(strictLower, Tensor.Concat([kc, vc], -1) * bc.Unsqueeze(-1), upper: false, unitriangular: true);
            w = both.Narrow(-1, 0, dk);
            u = both.Narrow(-1, dk, dv);
            keysToEnd = kc;
        }
        else
        {
            var ut = UtTransform(kc, bc);
            // The decay acts once per token, at its first step: log-decay 0 (alpha = 1) at the other steps.
            var g = n == 1 ? logAlpha : logAlpha.Unsqueeze(-1).Pad([0, n - 1]).Reshape(b, h, length);
            // Cumulative log-decays G_i = sum_{j<=i} g_j inside each chunk; every factor below is a ratio
            // gamma_i / gamma_j = exp(G_i - G_j) with i >= j, so nothing grows (as in Gated DeltaNet).
            var cum = g.Pad([0, pad]).Reshape(b, h, chunks, c).Cumsum(-1);
            // Mask before exp: above the diagonal G_i - G_j >= 0 could overflow; it is zeroed again after.
            var ratio = (cum.Unsqueeze(-1) - cum.Unsqueeze(-2)).Tril().Exp().Tril();
            var last = cum.Narrow(-1, c - 1, 1);
            decay = cum.Exp().Unsqueeze(-1);
            total = last.Exp().Unsqueeze(-1);
            u = (ut * ratio).MatMul(vc);
            w = ut.MatMul(kc) * decay;
            scores = scores * ratio;
            keysToEnd = kc * (last - cum).Exp().Unsqueeze(-1);
        }

        // The state passes from chunk to chunk (DeltaNet, chunkwise form): V' = U - W S; O = Q S + (Q K^T masked) V';
        // S_next = S + K^T V'. One recorded op with its own backward (ChunkStatePassing).
        var (chunkOutputs, finalState) = ChunkStatePassing.Run(qc, keysToEnd, w, u, scores, s, decay, total);
        s = finalState;
        var output = chunkOutputs.Reshape(b, h, chunks * c, dv).Narrow(2, 0, length);
        if (n > 1) output = output.Reshape(b, h, t, n, dv).Select(3, n - 1);
        return (output, s);
    }

    /// <summary>
    /// The UT transform (DeltaNet, chunkwise form): T = (I + StrictLower(diag(b) K K^T))^{-1} diag(b) for keys
    /// k [..., c, d_k] and betas [..., c] (any leading dimensions, e.g. all chunks at once). The unit lower triangular
    /// system is solved by forward substitution (<see cref="Tensor.SolveTriangular"/>, reading only the strict lower
    /// triangle: the unit diagonal is implied), with diag(b) as the right-hand side.
    /// </summary>
    public static Tensor UtTransform(Tensor k, Tensor beta)
    {
        var scaledGram = beta.Unsqueeze(-1) * k.MatMul(k.MT);
        int c = k.Size(-2);
        var diagonal = beta.Unsqueeze(-1) * Tensor.Eye(c, dtype: beta.DType).To(beta.Device);
        return Tensor.SolveTriangular(scaledGram, diagonal, upper: false, unitriangular: true);
    }
}
