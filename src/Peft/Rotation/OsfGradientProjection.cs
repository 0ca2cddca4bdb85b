using Engine.Autograd;

namespace Engine.Peft.Rotation;

/// <summary>
/// OSF's gradient projection as an op: the identity in the forward; in the backward the gradient of U_low loses its
/// component in the frozen column space, dU ← dU − U_h (U_hᵀ dU), or the gradient of V_low its component in the frozen
/// row space, dV ← dV − (dV V_hᵀ) V_h (PEFT's tensor hooks in osf/layer.py <c>_attach_hooks</c>). Steps of any
/// gradient-based optimiser without weight decay then keep U_h ᵀ ΔU_l = 0 and ΔV_l V_hᵀ = 0.
/// </summary>
public sealed class OsfGradientProjection(Tensor basis, bool columns) : Function
{
    /// <summary>Projects the gradient of U_low [out, n] off the columns of U_h [out, k].</summary>
    public static Tensor OfColumns(Tensor uLow, Tensor uHigh) => new OsfGradientProjection(uHigh, columns: true).Apply(uLow);

    /// <summary>Projects the gradient of V_low [n, in] off the rows of V_h [k, in].</summary>
    public static Tensor OfRows(Tensor vLow, Tensor vHigh) => new OsfGradientProjection(vHigh, columns: false).Apply(vLow);

    /// <inheritdoc/>
    protected override Tensor Forward(FunctionContext ctx, Tensor[] inputs) => inputs[0];

    /// <inheritdoc/>
    protected override Tensor?[] Backward(FunctionContext ctx, Tensor gradOutput) =>
        [columns ? gradOutput - basis % (basis.T % gradOutput) : gradOutput - (gradOutput % basis.T) % basis];
}
