using Engine.Recording;

namespace Engine;

// The Vandermonde product of diagonal state-space layers (S4D): a sum of damped complex exponentials per row.
public sealed partial class Tensor
{
    /// <summary>
    /// y[..., l] = sum over n of Re(c[..., n] exp(l w[..., n])) for l = 0..length-1, with c and w complex numbers stored
    /// as pairs [..., N, 2] (leading dimensions broadcast). This is S4D's convolution kernel with c = C Bbar and
    /// w = dt A (section 2.3 of the S4D paper); computed directly it needs no [..., N, length] intermediate, and the
    /// derivatives are sums of the same exponentials against the output gradient.
    /// <code>var k = Tensor.VandermondeProduct(cBar, dtA, 4096) * 2; // [H, N/2, 2] pairs -> [H, 4096]</code>
    /// </summary>
    public static Tensor VandermondeProduct(Tensor c, Tensor w, int length)
    {
        RequireSameDevice("VandermondeProduct", c, w);
        Require(c.Rank >= 2 && w.Rank >= 2 && c._shape[^1] == 2 && w._shape[^1] == 2 && c._shape[^2] == w._shape[^2],
            $"VandermondeProduct: expects complex pairs c [..., N, 2] and w [..., N, 2], got c {Shapes.Format(c._shape)} and w {Shapes.Format(w._shape)}");
        Require(length >= 0, $"VandermondeProduct: length must be non-negative, got {length}");
        var dtype = DTypes.Promote(c.DType, w.DType);
        Require(dtype != DType.Bool, "VandermondeProduct: not defined for Bool tensors");
        dtype = dtype.ToFloating();
        var leading = Shapes.Broadcast(
            $"VandermondeProduct: c {Shapes.Format(c._shape)} with w {Shapes.Format(w._shape)}, leading dimensions", c._shape[..^2], w._shape[..^2]);
        int modes = c._shape[^2];
        var ec = c.To(dtype).Expand([.. leading, modes, 2]);
        var ew = w.To(dtype).Expand([.. leading, modes, 2]);
        var y = Empty([.. leading, length], dtype, ec.Backend, zeroed: modes == 0);
        if (y.Numel > 0 && modes > 0) ec.Backend.VandermondeProduct(ec.Strided, ew.Strided, y.Strided);
        return y.Record(OpKind.VandermondeProduct, [ec, ew], new() { Start = length });
    }

    /// <summary>
    /// The sums the derivative of <see cref="VandermondeProduct"/> needs, for g [..., L] and w [..., N, 2]:
    /// s0[..., n] = sum_l g[..., l] exp(l w[..., n]) and s1[..., n] = sum_l l g[..., l] exp(l w[..., n]), as pairs
    /// [..., N, 2]. Not recorded.
    /// </summary>
    internal static (Tensor S0, Tensor S1) VandermondeAdjoint(Tensor g, Tensor w)
    {
        var shape = w._shape;
        var s0 = Empty(shape, w.DType, w.Backend);
        var s1 = Empty(shape, w.DType, w.Backend);
        if (s0.Numel > 0) w.Backend.VandermondeAdjoint(g.To(w.DType).Strided, w.Strided, s0.Strided, s1.Strided);
        return (s0, s1);
    }
}
