namespace Engine.Nn;

/// <summary>
/// The attention step every attention layer shares (Vaswani et al. 2017, section 3.2): softmax(q k^T / sqrt(d) + masks) v
/// over heads, with an optional causal mask and key padding mask. Projections stay with the layers (GPT's fused
/// <c>qkv</c>, BERT's separate <c>query/key/value</c>), so adapters see the layers' own Linears.
/// </summary>
internal static class ScaledDotProductAttention
{
    /// <summary>
    /// q [B, H, T, D], k and v [B, H, T_keys, D] to [B, T, H * D]. With <paramref name="causal"/>, query i (at absolute
    /// position <paramref name="past"/> + i) sees keys 0..past + i. <paramref name="keyPaddingMask"/> [B, T_keys] is
    /// true at keys no query may see. <paramref name="dropout"/> acts on the attention weights. <paramref name="hidden"/>
    /// [B, T, T_keys] is true where a query may not see a key (routed attention, <see cref="RoutedAttentionState"/>).
    /// </summary>
    public static Tensor Compute(Tensor q, Tensor k, Tensor v, bool causal, int past, Tensor? keyPaddingMask, Module dropout, string op, Tensor? hidden = null)
    {
        int b = q.Size(0), h = q.Size(1), t = q.Size(2), d = q.Size(3), tk = k.Size(2);
        if (keyPaddingMask is not null && (keyPaddingMask.Rank != 2 || keyPaddingMask.Size(0) != b || keyPaddingMask.Size(1) != tk))
            throw new ArgumentException($"{op}: key padding mask must be [{b}, {tk}], got {Shapes.Format(keyPaddingMask.Shape)}");
        // Inference (no gradient, no active dropout) takes the fused kernel: one pass per head, no [B, H, T, T] tensors.
        bool dropoutActive = dropout is Dropout { P: > 0, Training: true };
        if (!dropoutActive && hidden is null && Tensor.TryFusedAttention(q, k, v, causal, past, keyPaddingMask, out var fused)) return fused;
        // Scaling q (T x D) rather than the scores (T x T) is the same product with fewer multiplications.
        var scores = (q * (1 / Math.Sqrt(d))).MatMul(k.MT);
        // Masks are added as 0 / -inf biases: a broadcast add is vectorised, and its gradient passes straight through.
        if (causal) scores = scores + CausalBias(t, tk, past, scores.DType, scores.Device);
        if (keyPaddingMask is not null)
        {
            var padding = Tensor.Where(keyPaddingMask.To(DType.Bool), double.NegativeInfinity, 0.0, scores.DType);
            scores = scores + padding.Reshape(b, 1, 1, tk);
        }
        if (hidden is not null)
            scores = scores + Tensor.Where(hidden.To(DType.Bool), double.NegativeInfinity, 0.0, scores.DType).To(scores.Device).Reshape(b, 1, t, tk);
        var weights = dropout.Forward(scores.Softmax(-1));
        return weights.MatMul(v).Transpose(1, 2).Reshape(b, t, h * d);
    }

    // [T, T_keys]: -inf where query i (at absolute position past + i) may not see key j (j > past + i), else 0.
    static Tensor CausalBias(int t, int tk, int past, DType dtype, Device device)
    {
        var keys = Tensor.Arange(tk, device).Unsqueeze(0);
        var queries = Tensor.Arange(t, device).Unsqueeze(1) + past;
        return Tensor.Where(keys > queries, double.NegativeInfinity, 0.0, dtype);
    }
}
