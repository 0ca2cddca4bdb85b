using Engine.Recording;

namespace Engine.Autograd;

/// <summary>
/// Derivative of the Vandermonde product y[l] = sum_n Re(c_n exp(l w_n)). With E_nl = exp(l w_n) and the output
/// gradient g: dy_l/d(Re c) = Re E, dy_l/d(Im c) = -Im E, so dc_n = conj(S0_n) with S0_n = sum_l g_l E_nl; and
/// d/dw of Re(c exp(l w)) gives dw_n = conj(c_n S1_n) with S1_n = sum_l l g_l E_nl (pairs: (re, im) of each).
/// Without a recorded backward the two sums come from the fused kernel; with one (createGraph) from tensor ops.
/// </summary>
static class VandermondeRules
{
    public static void Register(Dictionary<OpKind, DerivativeRule> rules)
    {
        rules[OpKind.VandermondeProduct] = (r, y, g) =>
        {
            var (c, w) = (r.Inputs[0], r.Inputs[1]);
            var (s0, s1) = GradMode.IsEnabled ? ComposedSums(g, w) : Tensor.VandermondeAdjoint(g, w);
            var (cr, ci) = (c.Select(-1, 0), c.Select(-1, 1));
            var (s1r, s1i) = (s1.Select(-1, 0), s1.Select(-1, 1));
            var dc = Tensor.Stack([s0.Select(-1, 0), -s0.Select(-1, 1)], -1);
            var dw = Tensor.Stack([cr * s1r - ci * s1i, -(cr * s1i + ci * s1r)], -1);
            return [c.RequiresGrad ? dc : null, w.RequiresGrad ? dw : null];
        };
    }

    // S0 and S1 from the exponentials themselves, [..., N, L] at a time: differentiable, for higher-order gradients.
    static (Tensor S0, Tensor S1) ComposedSums(Tensor g, Tensor w)
    {
        int length = g.Size(-1);
        var steps = Tensor.Arange(0, length, 1, w.DType).To(w.Device);
        var magnitude = (w.Select(-1, 0).Unsqueeze(-1) * steps).Exp();
        var angle = w.Select(-1, 1).Unsqueeze(-1) * steps;
        var (re, im) = (magnitude * angle.Cos(), magnitude * angle.Sin());
        var (gl, lgl) = (g.Unsqueeze(-2), (g * steps).Unsqueeze(-2));
        return (Tensor.Stack([(gl * re).Sum(-1), (gl * im).Sum(-1)], -1), Tensor.Stack([(lgl * re).Sum(-1), (lgl * im).Sum(-1)], -1));
    }
}
