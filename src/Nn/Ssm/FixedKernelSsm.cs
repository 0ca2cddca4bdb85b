namespace Engine.Nn;

/// <summary>
/// A preprocessing SSM of SpaceTime (reference <c>model/ssm/preprocess/</c>): a fixed, untrained causal convolution
/// kernel per channel, held as the buffer <c>kernel</c> [H, K]. y_t = Σ_{m&lt;K} kernel_m u_{t-m}, with zeros before
/// the first position. u [B, L, H] to y [B, L, H].
/// </summary>
public abstract class FixedKernelSsm : Module
{
    /// <summary>Registers <paramref name="kernel"/> [H, K] as the fixed kernel.</summary>
    protected FixedKernelSsm(Tensor kernel)
    {
        if (kernel.Rank != 2 || kernel.Size(0) < 1 || kernel.Size(1) < 1)
            throw new ArgumentException($"{GetType().Name}: expects a kernel [H >= 1, K >= 1], got {Shapes.Format(kernel.Shape)}");
        RegisterBuffer("kernel", kernel);
        Channels = kernel.Size(0);
    }

    /// <summary>H, the number of channels.</summary>
    public int Channels { get; }

    /// <summary>The fixed kernels [H, K].</summary>
    public Tensor Kernel => NamedBuffers().First(b => b.Name == "kernel").Buffer;

    /// <summary>u [B, L, H] to the causal convolution with the fixed kernels, [B, L, H].</summary>
    public override Tensor Forward(Tensor u)
    {
        if (u.Rank != 3 || u.Size(2) != Channels)
            throw new ArgumentException($"{GetType().Name}: expects [batch, length, {Channels}], got {Shapes.Format(u.Shape)}");
        return u.Transpose(1, 2).CausalConvolution(Kernel.To(u.DType)).Transpose(1, 2);
    }
}
