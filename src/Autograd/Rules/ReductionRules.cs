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
            // d(prod x)/dx_i = prod of the others (PyTorch's prod_backward): prod / x_i when no element is 0; with one
            // zero, the others' product at the zero and 0 elsewhere; with two or more zeros, 0 everywhere.
            var x = r.Inputs[0];
            var axes = r.Attributes.Axes!;
            var zero = x.Eq(0);
            var safe = Tensor.Where(zero, x.OnesLike(), x);
            var others = safe.Prod(axes, keepDim: true);
            var zeros = zero.To(x.DType).Sum(axes, keepDim: true);
            var noZero = (others / safe).Expand(x.Shape);
            var oneZero = Tensor.Where(zero, others.Expand(x.Shape), x.ZerosLike());
            var grad = Tensor.Where(zeros.Eq(0), noZero, Tensor.Where(zeros.Eq(1), oneZero, x.ZerosLike()));
            return [g.Expand(x.Shape) * grad];
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
