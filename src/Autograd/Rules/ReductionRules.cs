using Engine.Recording;

namespace Engine.Autograd;

/// <summary>Derivatives of reductions (recorded with kept dimensions) and of softmax and cumulative sums.</summary>
static class ReductionRules
{
    public static void Register(Dictionary<OpKind, DerivativeRule> rules)
    {
        rules[OpKind.Sum] = (r, y, g) => [g.Expand(r.Inputs[0].Shape)];
        rules[OpKind.Prod] = (r, y, g) =>
        {
            // d(prod x)/dx_i = prod / x_i (inputs with zeros have no such quotient; PyTorch special-cases them).
            var x = r.Inputs[0];
            return [(g * y).Expand(x.Shape) / x];
        };
        rules[OpKind.Amax] = (r, y, g) => [ExtremumGrad(r, y, g)];
        rules[OpKind.Amin] = (r, y, g) => [ExtremumGrad(r, y, g)];
        rules[OpKind.Cumsum] = (r, y, g) =>
        {
            int d = r.Attributes.Dim;
            return [g.Flip(d).Cumsum(d).Flip(d)];
        };
        rules[OpKind.Softmax] = (r, y, g) =>
        {
            // dx = y * (g - sum(g * y)); one fused kernel when no graph is being built.
            int d = r.Attributes.Dim;
            if (!GradMode.IsEnabled && d == y.Rank - 1) return [y.SoftmaxBackward(g, log: false)];
            return [y * (g - (g * y).Sum(d, keepDim: true))];
        };
        rules[OpKind.LogSoftmax] = (r, y, g) =>
        {
            // dx = g - softmax * sum(g)
            int d = r.Attributes.Dim;
            if (!GradMode.IsEnabled && d == y.Rank - 1) return [y.SoftmaxBackward(g, log: true)];
            return [g - y.Exp() * g.Sum(d, keepDim: true)];
        };
    }

    // The gradient goes to the elements equal to the extremum, split evenly among ties (as torch.amax).
    static Tensor ExtremumGrad(OpRecord r, Tensor y, Tensor g)
    {
        var x = r.Inputs[0];
        var hit = x.Eq(y.Expand(x.Shape)).To(g.DType);
        var count = hit.Sum(r.Attributes.Axes!, keepDim: true);
        return hit * (g / count).Expand(x.Shape);
    }
}
