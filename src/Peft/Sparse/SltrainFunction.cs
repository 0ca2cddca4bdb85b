using Engine.Autograd;

namespace Engine.Peft.Sparse;

/// <summary>
/// The reference's fused op (andyjm3/SLTrain <c>sparse-lora/sparse_linear.cpp</c>, <c>lora_sparse_linear</c> in
/// <c>splora_linear.py</c>): y = x (B·A′ + S)ᵀ (+ b) for rows x [n, in], A′ = s·A already scaled, S = values at the flat
/// positions Ω. The dense W is formed in the forward and formed again in the backward instead of being kept, so a
/// training step holds no [out, in] tensor per layer between the passes — the point of SLTrain's memory figure. Backward
/// (the reference's): G_W = G_yᵀ x, grad_x = G_y W, grad_B = G_W A′ᵀ, grad_A′ = Bᵀ G_W, grad_values = G_W at Ω
/// (<see cref="SparseDelta.Gather"/>), grad_b = Σ_rows G_y; the gradient of A and s flows on through A′ = s·A.
/// </summary>
public sealed class SltrainFunction : Function
{
    /// <summary>y [n, out] for rows <paramref name="x"/> [n, in]; <paramref name="bias"/> [out] or null.</summary>
    public static Tensor Linear(Tensor x, Tensor b, Tensor scaledA, Tensor values, Tensor positions, Tensor? bias) =>
        bias is null ? new SltrainFunction().Apply(x, b, scaledA, values, positions) : new SltrainFunction().Apply(x, b, scaledA, values, positions, bias);

    static Tensor Weight(Tensor b, Tensor scaledA, Tensor values, Tensor positions) =>
        SparseDelta.AddTo(b.MatMul(scaledA), positions, values);

    /// <inheritdoc/>
    protected override Tensor Forward(FunctionContext ctx, Tensor[] inputs)
    {
        ctx.SaveForBackward(inputs);
        var (x, w) = (inputs[0], Weight(inputs[1], inputs[2], inputs[3], inputs[4]));
        return inputs.Length > 5 ? Tensor.Addmm(inputs[5], x, w.T) : x.MatMul(w.T);
    }

    /// <inheritdoc/>
    protected override Tensor?[] Backward(FunctionContext ctx, Tensor gradOutput)
    {
        var t = ctx.SavedTensors;
        var (x, b, a, values, positions) = (t[0], t[1], t[2], t[3], t[4]);
        var gw = gradOutput.T.MatMul(x);
        var gradX = x.RequiresGrad ? gradOutput.MatMul(Weight(b, a, values, positions)) : null;
        var gradB = b.RequiresGrad ? gw.MatMul(a.T) : null;
        var gradA = a.RequiresGrad ? b.T.MatMul(gw) : null;
        var gradValues = values.RequiresGrad ? SparseDelta.Gather(gw, positions) : null;
        if (t.Length == 5) return [gradX, gradB, gradA, gradValues, null];
        return [gradX, gradB, gradA, gradValues, null, t[5].RequiresGrad ? gradOutput.Sum(0) : null];
    }
}
