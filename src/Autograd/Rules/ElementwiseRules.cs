using Engine.Backends;
using Engine.Recording;

namespace Engine.Autograd;

/// <summary>Derivatives of elementwise ops. Inputs of binary ops have the output's shape (broadcasting is recorded as Expand).</summary>
static class ElementwiseRules
{
    const double InvSqrt2Pi = 0.3989422804014327, Sqrt2OverPi = 0.7978845608028654, GeluCubic = 0.044715;

    public static void Register(Dictionary<OpKind, DerivativeRule> rules)
    {
        rules[OpKind.Add] = (r, y, g) => [g, g];
        rules[OpKind.Sub] = (r, y, g) => [g, -g];
        rules[OpKind.Mul] = (r, y, g) => [g * r.Inputs[1], g * r.Inputs[0]];
        rules[OpKind.Div] = (r, y, g) =>
        {
            var (a, b) = (r.Inputs[0], r.Inputs[1]);
            return [g / b, -g * a / (b * b)];
        };
        rules[OpKind.Pow] = (r, y, g) =>
        {
            // d(a^b)/da = b a^(b-1), taken as 0 where b = 0 (a^0 is constant, even at a = 0 where 0 * 0^-1 is NaN);
            // d(a^b)/db = a^b ln a, taken as 0 where a = 0 and b >= 0 (the limit), as PyTorch's pow_backward does.
            var (a, b) = (r.Inputs[0], r.Inputs[1]);
            var da = Tensor.Where(b.Eq(0), g.ZerosLike(), g * b * a.Pow(b - 1));
            var db = b.RequiresGrad ? Tensor.Where(a.Eq(0).LogicalAnd(b.Ge(0)), y.ZerosLike(), g * y * a.Log()) : null;
            return [da, db];
        };
        rules[OpKind.Maximum] = (r, y, g) => TieSplit(r.Inputs[0], r.Inputs[1], g, max: true);
        rules[OpKind.Minimum] = (r, y, g) => TieSplit(r.Inputs[0], r.Inputs[1], g, max: false);

        rules[OpKind.Neg] = (r, y, g) => [-g];
        rules[OpKind.Abs] = (r, y, g) => [g * r.Inputs[0].Sign()];
        rules[OpKind.Exp] = (r, y, g) => [g * y];
        rules[OpKind.Log] = (r, y, g) => [g / r.Inputs[0]];
        rules[OpKind.Log1p] = (r, y, g) => [g / (r.Inputs[0] + 1)];
        rules[OpKind.Sqrt] = (r, y, g) => [g * 0.5 / y];
        rules[OpKind.Rsqrt] = (r, y, g) => [g * -0.5 * y * y * y];
        rules[OpKind.Sin] = (r, y, g) => [g * r.Inputs[0].Cos()];
        rules[OpKind.Cos] = (r, y, g) => [-g * r.Inputs[0].Sin()];
        rules[OpKind.Tanh] = (r, y, g) => [g * (1 - y * y)];
        rules[OpKind.Sigmoid] = (r, y, g) => [g * y * (1 - y)];
        rules[OpKind.Relu] = (r, y, g) => [g * r.Inputs[0].Gt(0).To(g.DType)];
        rules[OpKind.Square] = (r, y, g) => [g * 2 * r.Inputs[0]];
        rules[OpKind.Reciprocal] = (r, y, g) => [-g * y * y];
        rules[OpKind.Erf] = (r, y, g) =>
        {
            var x = r.Inputs[0];
            return [g * (2 * InvSqrt2Pi * Math.Sqrt(2)) * (-(x * x)).Exp()];
        };
        rules[OpKind.Softplus] = (r, y, g) => [g * r.Inputs[0].Sigmoid()];
        rules[OpKind.Silu] = (r, y, g) =>
        {
            if (!GradMode.IsEnabled) return [r.Inputs[0].ActivationGradient(UnaryOp.SiluDerivative, g)];
            // d/dx x s(x) = s(x) (1 + x (1 - s(x)))
            var x = r.Inputs[0];
            var s = x.Sigmoid();
            return [g * s * (1 + x * (1 - s))];
        };
        rules[OpKind.GeluErf] = (r, y, g) =>
        {
            if (!GradMode.IsEnabled) return [r.Inputs[0].ActivationGradient(UnaryOp.GeluErfDerivative, g)];
            // d/dx x Phi(x) = Phi(x) + x phi(x)
            var x = r.Inputs[0];
            var cdf = ((x * (1 / Math.Sqrt(2))).Erf() + 1) * 0.5;
            var pdf = (x * x * -0.5).Exp() * InvSqrt2Pi;
            return [g * (cdf + x * pdf)];
        };
        rules[OpKind.GeluTanh] = (r, y, g) =>
        {
            // Without a graph to build, one fused kernel replaces the dozen ops of the composite below.
            if (!GradMode.IsEnabled) return [r.Inputs[0].ActivationGradient(UnaryOp.GeluTanhDerivative, g)];
            // y = x/2 (1 + tanh u), u = c (x + k x^3): dy/dx = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) c (1 + 3 k x^2)
            var x = r.Inputs[0];
            var t = ((x + x * x * x * GeluCubic) * Sqrt2OverPi).Tanh();
            var du = (x * x * (3 * GeluCubic) + 1) * Sqrt2OverPi;
            return [g * ((t + 1) * 0.5 + x * 0.5 * (1 - t * t) * du)];
        };
        rules[OpKind.Clamp] = (r, y, g) =>
        {
            var x = r.Inputs[0];
            var inside = x.Ge(r.Attributes.P0).LogicalAnd(x.Le(r.Attributes.P1));
            return [g * inside.To(g.DType)];
        };
        rules[OpKind.Where] = (r, y, g) =>
        {
            var c = r.Inputs[0];
            var zero = g.ZerosLike();
            return [null, Tensor.Where(c, g, zero), Tensor.Where(c, zero, g)];
        };
        rules[OpKind.Cast] = (r, y, g) => [g.To(r.Inputs[0].DType).To(r.Inputs[0].Device)]; // a device move is a Cast too
        rules[OpKind.Clone] = (r, y, g) => [g];
    }

    // Maximum/minimum send the gradient to the winning input; ties split it evenly, as PyTorch does.
    static Tensor?[] TieSplit(Tensor a, Tensor b, Tensor g, bool max)
    {
        var aWins = (max ? a.Gt(b) : a.Lt(b)).To(g.DType);
        var tie = a.Eq(b).To(g.DType);
        var bWins = 1 - aWins - tie;
        return [g * (aWins + tie * 0.5), g * (bWins + tie * 0.5)];
    }
}
