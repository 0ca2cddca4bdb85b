using Engine.Recording;

namespace Engine.Autograd;

/// <summary>
/// Derivative of the causal convolution y[t] = sum_m k[m] u[t - m] (signal u of length L, kernel k of length K).
/// Both adjoints are correlations with the gradient g, and a correlation is a causal convolution of reversed
/// sequences: du[j] = sum_t g[t] k[t - j] = flip(flip(g) * k)[j], and dk[m] = sum_t g[t] u[t - m] =
/// flip(flip(g) * u)[m] for m &lt; L (zero for m >= L). So the backward reuses the forward op and stays differentiable.
/// </summary>
static class ConvolutionRules
{
    public static void Register(Dictionary<OpKind, DerivativeRule> rules)
    {
        rules[OpKind.CausalConvolution] = (r, y, g) =>
        {
            var (u, k) = (r.Inputs[0], r.Inputs[1]);
            var reversed = g.Flip(-1);
            var du = u.RequiresGrad ? reversed.CausalConvolution(k).Flip(-1) : null;
            Tensor? dk = null;
            if (k.RequiresGrad)
            {
                int length = u.Size(-1), taps = k.Size(-1);
                var full = reversed.CausalConvolution(u).Flip(-1);
                dk = taps <= length ? full.Narrow(-1, 0, taps) : full.Pad([0, taps - length]);
            }
            return [du, dk];
        };
    }
}
