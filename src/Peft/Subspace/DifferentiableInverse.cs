using Engine.Autograd;

namespace Engine.Peft.Subspace;

/// <summary>
/// The inverse of a square non-singular matrix, differentiable: d(A^-1) = -A^-1 dA A^-1, so gA = -A^-T gY A^-T
/// (Giles 2008, "Collected matrix derivative results"). The forward is <see cref="Linalg.Inverse"/> (host, double
/// precision); the backward is two matrix products on the input's device. PSOFT's exact Cayley transform uses it, and
/// OFT's and BOFT's (<see cref="Engine.Peft.Orthogonal.SkewCayley"/>) on a batch of blocks [..., n, n], each inverted on its own.
/// <code>var y = DifferentiableInverse.Of(a); // a % y ≈ I</code>
/// </summary>
public static class DifferentiableInverse
{
    /// <summary>A^-1 for A [n, n], or each matrix's inverse for a batch A [..., n, n].</summary>
    /// <exception cref="ArgumentException">A is not square, or is singular.</exception>
    public static Tensor Of(Tensor a)
    {
        if (a.Rank < 2 || a.Size(-2) != a.Size(-1))
            throw new ArgumentException($"DifferentiableInverse: expects a square matrix [n, n] or a batch [..., n, n], got {Shapes.Format(a.Shape)}");
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
            // A batch of small matrices is multiplied on the host, as the forward inverts there: the accelerator backends
            // launch one product per matrix.
            var y = ctx.SavedTensors[0];
            if (y.Rank > 2 && g.Device != Device.Cpu)
            {
                var yh = y.To(Device.Cpu).MT;
                return [(-(yh % g.To(Device.Cpu) % yh)).To(g.Device)];
            }
            var yt = y.MT;
            return [-(yt % g % yt)];
        }
    }
}
