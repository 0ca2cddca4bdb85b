namespace Engine.Nn;

public static partial class DeltaRule
{
    /// <summary>
    /// The same recurrence as <see cref="Recurrent"/>, computed chunk by chunk with matrix products (Yang et al. 2024,
    /// DeltaNet, section 3.2; the gated terms from Gated DeltaNet, section 3.3). DeltaProduct is DeltaNet on the
    /// interleaved sequence of T n_h Householder steps whose output is read after each token's last step (Siems et al.
    /// 2025, section 3), so chunks are <paramref name="chunkSize"/> steps long; the last one may be shorter.
    /// Returns the outputs [B, H, T, d_v] and the final state [B, H, d_k, d_v].
    /// </summary>
    public static (Tensor Output, Tensor State) Chunked(Tensor q, Tensor k, Tensor v, Tensor beta, Tensor? logAlpha = null, Tensor? initialState = null, int chunkSize = 64)
    {
        var (b, h, t, n, dk, dv) = CheckShapes("DeltaRule.Chunked", q, k, v, beta, logAlpha, initialState);
        if (chunkSize < 1) throw new ArgumentException($"DeltaRule.Chunked: the chunk size must be positive, got {chunkSize}");
        var s = initialState ?? Tensor.Zeros([b, h, dk, dv], k.DType);
        if (t == 0) return (Tensor.Zeros([b, h, 0, dv], k.DType), s);

        int length = t * n;
        var keys = k.Reshape(b, h, length, dk);
        var values = v.Reshape(b, h, length, dv);
        var betas = beta.Reshape(b, h, length);
        // Every step of a token reads the token's query; only the last step's output is kept.
        var queries = n == 1 ? q : q.Unsqueeze(3).Expand(b, h, t, n, dk).Reshape(b, h, length, dk);
        // The decay acts once per token, at its first step: log-decay 0 (alpha = 1) at the other steps.
        var decays = logAlpha is null ? null : n == 1 ? logAlpha : logAlpha.Unsqueeze(-1).Pad([0, n - 1]).Reshape(b, h, length);

        var outputs = new List<Tensor>();
        for (int start = 0; start < length; start += chunkSize)
        {
            int c = Math.Min(chunkSize, length - start);
            (var o, s) = Chunk(queries.Narrow(2, start, c), keys.Narrow(2, start, c), values.Narrow(2, start, c),
                betas.Narrow(2, start, c), decays?.Narrow(2, start, c), s);
            outputs.Add(o);
        }
        var output = outputs.Count == 1 ? outputs[0] : Tensor.Concat(outputs.ToArray(), 2);
        if (n > 1) output = output.Reshape(b, h, t, n, dv).Select(3, n - 1);
        return (output, s);
    }

    // One chunk of c steps with rows q_i, k_i, v_i (i = 1..c), betas b, log-decays g, and the state S before it.
    static (Tensor Output, Tensor State) Chunk(Tensor q, Tensor k, Tensor v, Tensor beta, Tensor? g, Tensor s)
    {
        int c = k.Size(2);
        var t = UtTransform(k, beta);
        // The product of the chunk's Householder factors is I - K^T W with W = T K (WY representation, DeltaNet eq. 6-7).
        var w = t.MatMul(k);
        // Causal scores q_i . k_j for j <= i.
        var scores = q.MatMul(k.MT).Tril();
        if (g is null)
        {
            // U = T V; V' = U - W S are the values corrected by what S already predicts (DeltaNet eq. 8).
            var corrected = t.MatMul(v) - w.MatMul(s);
            // O = Q S + (Q K^T masked) V';  S_next = S + K^T V'.
            var output = q.MatMul(s) + scores.MatMul(corrected);
            return (output, s + k.MT.MatMul(corrected));
        }
        else
        {
            // Cumulative log-decays G_i = sum_{j<=i} g_j inside the chunk; every factor below is a ratio
            // gamma_i / gamma_j = exp(G_i - G_j) with i >= j, so nothing grows (Gated DeltaNet, section 3.3).
            var cum = g.Cumsum(-1);
            // Mask before exp: above the diagonal G_i - G_j >= 0 could overflow; it is zeroed again after.
            var ratio = (cum.Unsqueeze(-1) - cum.Unsqueeze(-2)).Tril().Exp().Tril();
            var decay = cum.Exp().Unsqueeze(-1);
            var corrected = (t * ratio).MatMul(v) - (w * decay).MatMul(s);
            var output = q.MatMul(s) * decay + (scores * ratio).MatMul(corrected);
            var total = cum.Narrow(-1, c - 1, 1);
            var next = s * total.Exp().Unsqueeze(-1) + (k * (total - cum).Exp().Unsqueeze(-1)).MT.MatMul(corrected);
            return (output, next);
        }
    }

    /// <summary>
    /// The UT transform of a chunk (DeltaNet, section 3.2): T = (I + StrictLower(diag(b) K K^T))^{-1} diag(b), for keys
    /// k [B, H, c, d_k] and betas [B, H, c], by forward substitution on the unit lower triangular system, one row at a time.
    /// </summary>
    public static Tensor UtTransform(Tensor k, Tensor beta)
    {
        int c = k.Size(2);
        var strictLower = (beta.Unsqueeze(-1) * k.MatMul(k.MT)).Tril(-1);
        var diagBeta = beta.Unsqueeze(-1) * Tensor.Eye(c, dtype: k.DType);
        // Row i of A T = diag(b): T_i = b_i e_i^T - sum_{j<i} A_ij T_j.
        var t = diagBeta.Narrow(-2, 0, 1);
        for (int i = 1; i < c; i++)
        {
            var row = diagBeta.Narrow(-2, i, 1) - strictLower.Narrow(-2, i, 1).Narrow(-1, 0, i).MatMul(t);
            t = Tensor.Concat([t, row], -2);
        }
        return t;
    }
}
