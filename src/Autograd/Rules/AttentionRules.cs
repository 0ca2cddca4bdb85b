using Engine.Recording;

namespace Engine.Autograd;

/// <summary>
/// Derivative of fused attention y = P v with P = softmax(scale q k^T + masks), scale = 1 / sqrt(D). With the output
/// gradient g (in y's [B, T, H, D] layout, dY per head): dV = P^T dY, dP = dY V^T, dS = P o (dP - rowsum(dY o Y)),
/// dQ = scale dS K, dK = scale dS^T Q. Without a recorded backward these come from the fused kernel, which recomputes
/// P block by block; with one (createGraph) from tensor ops.
/// </summary>
static class AttentionRules
{
    public static void Register(Dictionary<OpKind, DerivativeRule> rules)
    {
        rules[OpKind.Attention] = (r, y, g) =>
        {
            var (q, k, v) = (r.Inputs[0], r.Inputs[1], r.Inputs[2]);
            var bias = r.Attributes.Saved?[0];
            return GradMode.IsEnabled
                ? Composed(q, k, v, bias, r.Attributes.Causal, r.Attributes.Start, y, g)
                : Tensor.AttentionBackward(q, k, v, bias, r.Attributes.Causal, r.Attributes.Start, y, g);
        };
    }

    // The same gradients from differentiable ops, [B, H, T, T_keys] at a time.
    static Tensor?[] Composed(Tensor q, Tensor k, Tensor v, Tensor? bias, bool causal, int past, Tensor y, Tensor g)
    {
        int b = q.Size(0), t = q.Size(2), tk = k.Size(2);
        double scale = 1 / Math.Sqrt(q.Size(3));
        var scores = (q * scale).MatMul(k.MT);
        if (causal)
        {
            var hidden = Tensor.Arange(tk, q.Device).Unsqueeze(0) > Tensor.Arange(t, q.Device).Unsqueeze(1) + past;
            scores = scores + Tensor.Where(hidden, double.NegativeInfinity, 0.0, scores.DType);
        }
        if (bias is not null) scores = scores + bias.Reshape(b, 1, 1, tk);
        var p = scores.Softmax(-1);
        var (dy, yh) = (g.Transpose(1, 2), y.Transpose(1, 2));
        var ds = p * (dy.MatMul(v.MT) - (dy * yh).Sum(-1, keepDim: true));
        return
        [
            q.RequiresGrad ? ds.MatMul(k) * scale : null,
            k.RequiresGrad ? ds.MT.MatMul(q) * scale : null,
            v.RequiresGrad ? p.MT.MatMul(dy) : null,
        ];
    }
}
