using Engine.Autograd;

namespace Engine.Peft.Subspace;

/// <summary>
/// The inverse of a square non-singular matrix, differentiable: d(A^-1) = -A^-1 dA A^-1, so gA = -A^-T gY A^-T
/// (Giles 2008, "Collected matrix derivative results"). The forward is <see cref="Linalg.Inverse"/> (host, double
/// precision); the backward is two matrix products on the input's device. PSOFT's exact Cayley transform uses it.
/// <code>var y = DifferentiableInverse.Of(a); // a % y ≈ I</code>
/// </summary>
public static class DifferentiableInverse
{
    /// <summary>A^-1 for A [n, n].</summary>
    /// <exception cref="ArgumentException">A is not square, or is singular.</exception>
    public static Tensor Of(Tensor a)
    {
        if (a.Rank != 2 || a.Size(0) != a.Size(1))
            throw new ArgumentException($"DifferentiableInverse: expects a square matrix [n, n], got {Shapes.Format(a.Shape)}");
        return new InverseFunction().Apply(a);
    }

    sealed class InverseFunction : Function
    {
        protected override Tensor Forward(FunctionContext ctx, Tensor[] inputs)
        {
            var a = inputs[0];
            var y = Linalg.Inverse(a).To(a.DType).To(a.Device);
            ctx.SaveForBackward(y);
            return y;
        }

        protected override Tensor?[] Backward(FunctionContext ctx, Tensor g)
        {
            var yt = ctx.SavedTensors[0].T;
            return [-(yt % g % yt)];
        }
    }
}
