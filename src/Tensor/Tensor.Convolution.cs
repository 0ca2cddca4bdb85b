using Engine.Recording;

namespace Engine;

// Long causal convolution along the last dimension, the convolution mode of state-space layers (S4D).
public sealed partial class Tensor
{
    /// <summary>
    /// Causal convolution of this signal [..., L] with <paramref name="kernel"/> [..., K] along the last dimension:
    /// y[..., t] = sum over m = 0..min(t, K-1) of kernel[..., m] * this[..., t - m], an output as long as the signal.
    /// The leading dimensions broadcast (a kernel [H, K] serves a signal [B, H, L]). The CPU computes it with real FFTs
    /// zero-padded to a power of two n >= L + K - 1, in O(L log L) per row; its derivatives are causal convolutions of
    /// the reversed gradient, so they cost the same.
    /// <code>var y = u.CausalConvolution(k); // u [B, H, L], k [H, L] -> y [B, H, L]</code>
    /// </summary>
    public Tensor CausalConvolution(Tensor kernel)
    {
        RequireSameDevice("CausalConvolution", this, kernel);
        Require(Rank >= 1 && kernel.Rank >= 1,
            $"CausalConvolution: signal and kernel need at least one dimension, got {Shapes.Format(_shape)} and {Shapes.Format(kernel._shape)}");
        var dtype = DTypes.Promote(DType, kernel.DType);
        Require(dtype != DType.Bool, "CausalConvolution: not defined for Bool tensors");
        dtype = dtype.ToFloating();
        var leading = Shapes.Broadcast(
            $"CausalConvolution: signal {Shapes.Format(_shape)} with kernel {Shapes.Format(kernel._shape)}, leading dimensions", _shape[..^1], kernel._shape[..^1]);
        int length = _shape[^1], taps = kernel._shape[^1];
        var signal = To(dtype).Expand([.. leading, length]);
        var k = kernel.To(dtype).Expand([.. leading, taps]);
        var y = Empty([.. leading, length], dtype, Backend);
        if (y.Numel > 0) Backend.CausalConvolution(signal.Strided, k.Strided, y.Strided);
        return y.Record(OpKind.CausalConvolution, [signal, k]);
    }
}
