namespace Engine.Nn;

/// <summary>
/// The (gated) delta rule with n_h Householder steps per token, per batch entry and head, on a state S [d_k, d_v]
/// (Siems et al. 2025, DeltaProduct; n_h = 1 is DeltaNet, Schlag et al. 2021 and Yang et al. 2024):
/// <code>
/// H_0 = alpha_t S_{t-1}
/// H_j = (I - beta_{t,j} k_{t,j} k_{t,j}^T) H_{j-1} + beta_{t,j} k_{t,j} v_{t,j}^T,  j = 1..n_h
/// S_t = H_{n_h},  o_t = S_t^T q_t
/// </code>
/// alpha_t = exp(g_t) is the forget gate of Gated DeltaNet (Yang, Kautz, Hatamizadeh 2024), applied once per
/// token, before its first Householder step (as flash-linear-attention's gated DeltaProduct); without a gate alpha = 1.
/// Two computations of the same function: <see cref="Recurrent"/> (the reference, step by step) and
/// <see cref="Chunked"/> (the WY / UT chunk-parallel form for training). Both are written with differentiable tensor
/// ops, so autograd gives their gradients.
/// Shapes: q [B, H, T, d_k]; k [B, H, T, n_h, d_k]; v [B, H, T, n_h, d_v]; beta [B, H, T, n_h];
/// logAlpha (g) [B, H, T] or null; initial state [B, H, d_k, d_v] or null (zeros). Keys are used as given (the layer
/// L2-normalises them); queries too (the layer scales them by 1/sqrt(d_k)).
/// </summary>
public static partial class DeltaRule
{
    /// <summary>
    /// The recurrence token by token and step by step: returns the outputs o [B, H, T, d_v] and the final state
    /// [B, H, d_k, d_v].
    /// </summary>
    public static (Tensor Output, Tensor State) Recurrent(Tensor q, Tensor k, Tensor v, Tensor beta, Tensor? logAlpha = null, Tensor? initialState = null)
    {
        var (b, h, t, _, dk, dv) = CheckShapes("DeltaRule.Recurrent", q, k, v, beta, logAlpha, initialState);
        var s = initialState ?? Tensor.Zeros([b, h, dk, dv], k.DType);
        if (t == 0) return (Tensor.Zeros([b, h, 0, dv], k.DType), s);
        var outputs = new Tensor[t];
        for (int i = 0; i < t; i++)
        {
            s = Step(s, k.Select(2, i), v.Select(2, i), beta.Select(2, i), logAlpha?.Select(2, i));
            // o_t = S_t^T q_t, as a row: q_t^T S_t.
            outputs[i] = q.Narrow(2, i, 1).MatMul(s);
        }
        return (Tensor.Concat(outputs, 2), s);
    }

    /// <summary>
    /// One token's state update: S [B, H, d_k, d_v], its keys [B, H, n_h, d_k], values [B, H, n_h, d_v],
    /// betas [B, H, n_h] and log-decay [B, H] (or null) to the next state.
    /// </summary>
    public static Tensor Step(Tensor state, Tensor k, Tensor v, Tensor beta, Tensor? logAlpha = null)
    {
        var s = state;
        if (logAlpha is not null) s = s * logAlpha.Exp().Unsqueeze(-1).Unsqueeze(-1);
        for (int j = 0; j < k.Size(2); j++)
        {
            var kj = k.Narrow(2, j, 1);
            var bj = beta.Narrow(2, j, 1).Unsqueeze(-1);
            // (I - b k k^T) H + b k v^T = H + k (b (v^T - k^T H)): the delta rule's correction of the prediction k^T H.
            var delta = (v.Narrow(2, j, 1) - kj.MatMul(s)) * bj;
            s = s + kj.MT.MatMul(delta);
        }
        return s;
    }

    static (int B, int H, int T, int N, int Dk, int Dv) CheckShapes(string op, Tensor q, Tensor k, Tensor v, Tensor beta, Tensor? logAlpha, Tensor? initialState)
    {
        if (k.Rank != 5)
            throw new ArgumentException($"{op}: keys must be [batch, heads, time, householder, d_k], got {Shapes.Format(k.Shape)}");
        int b = k.Size(0), h = k.Size(1), t = k.Size(2), n = k.Size(3), dk = k.Size(4);
        if (v.Rank != 5 || v.Size(0) != b || v.Size(1) != h || v.Size(2) != t || v.Size(3) != n)
            throw new ArgumentException($"{op}: values must be [{b},{h},{t},{n},d_v] like the keys {Shapes.Format(k.Shape)}, got {Shapes.Format(v.Shape)}");
        int dv = v.Size(4);
        if (!q.Shape.SequenceEqual(new[] { b, h, t, dk }))
            throw new ArgumentException($"{op}: queries must be [{b},{h},{t},{dk}], got {Shapes.Format(q.Shape)}");
        if (!beta.Shape.SequenceEqual(new[] { b, h, t, n }))
            throw new ArgumentException($"{op}: betas must be [{b},{h},{t},{n}], got {Shapes.Format(beta.Shape)}");
        if (logAlpha is not null && !logAlpha.Shape.SequenceEqual(new[] { b, h, t }))
            throw new ArgumentException($"{op}: log-decays must be [{b},{h},{t}], got {Shapes.Format(logAlpha.Shape)}");
        if (initialState is not null && !initialState.Shape.SequenceEqual(new[] { b, h, dk, dv }))
            throw new ArgumentException($"{op}: the initial state must be [{b},{h},{dk},{dv}], got {Shapes.Format(initialState.Shape)}");
        return (b, h, t, n, dk, dv);
    }
}
