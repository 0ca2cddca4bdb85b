using Engine.Autograd;

namespace Engine.Peft.Sparse;

/// <summary>
/// The nuclear norm ‖X‖_* = Σ σ_i of a matrix, differentiable: ∂‖X‖_*/∂X = U Vᵀ from the thin SVD X = U Σ Vᵀ
/// (<see cref="Linalg.Svd"/>; the subgradient at repeated or zero singular values), SaRA's low-rank regulariser
/// (sjtuplayer/SaRA <c>optim/adamw2.py::nuclear_norm</c>, torch.svd's backward; spec adapters-other.md section 5).
/// <code>var loss = new NuclearNorm().Apply(w); // scalar</code>
/// </summary>
public sealed class NuclearNorm : Function
{
    /// <inheritdoc/>
    protected override Tensor Forward(FunctionContext ctx, Tensor[] inputs)
    {
        var (u, s, vh) = Linalg.Svd(inputs[0]);
        var dtype = inputs[0].DType;
        var device = inputs[0].Device;
        ctx.SaveForBackward(u.MatMul(vh).To(dtype).To(device));
        return s.Sum().To(dtype).To(device);
    }

    /// <inheritdoc/>
    protected override Tensor?[] Backward(FunctionContext ctx, Tensor gradOutput) => [ctx.SavedTensors[0] * gradOutput];
}
