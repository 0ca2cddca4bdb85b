namespace Engine.Nn;

/// <summary>
/// A reparameterised Dirichlet draw (torch's <c>Dirichlet.rsample</c>): independent g_i ~ Gamma(a_i, 1) from
/// <see cref="GammaSampling"/>, z = g / Σ g. The pathwise gradient of each Gamma draw is the implicit
/// reparameterisation gradient (Figurnov et al. 2018, eq. 6): with F the Gamma CDF (the regularised incomplete gamma
/// P(a, x)), dx/da = −(∂F/∂a)(x; a) / p(x; a). ∂F/∂a is a central difference of P in a (P to about 1e-15 from the series
/// or continued fraction of Numerical Recipes 6.2); the gradient enters the graph as g = g₀ + (a − stop(a)) · dx/da,
/// whose value is g₀ exactly and whose derivative in a is dx/da. Gradients through the normalisation are exact.
/// </summary>
public sealed class DirichletRsample
{
    readonly GammaSampling _gamma;

    /// <summary>A sampler drawing from <paramref name="generator"/>.</summary>
    public DirichletRsample(Generator generator) => _gamma = new GammaSampling(generator);

    /// <summary>One draw z ~ Dirichlet(a) per row of <paramref name="concentration"/> [..., C] (last dim), differentiable in a.</summary>
    /// <exception cref="ArgumentException">A scalar, an empty last dimension, or a concentration that is not positive and finite.</exception>
    public Tensor Sample(Tensor concentration)
    {
        if (concentration.Rank < 1 || concentration.Size(-1) == 0)
            throw new ArgumentException($"DirichletRsample: expects concentrations [..., C] with C ≥ 1, got {Shapes.Format(concentration.Shape)}");
        var a = concentration.Detach().To(DType.Float64).ToArray<double>();
        foreach (var v in a)
            if (!(v > 0) || !double.IsFinite(v)) throw new ArgumentException($"DirichletRsample: concentrations must be positive and finite, got {v}");
        var g = new double[a.Length];
        var dg = new double[a.Length];
        for (int i = 0; i < a.Length; i++)
        {
            // Keep draws strictly positive so the sum is too (a tiny shape can underflow the boost).
            g[i] = Math.Max(_gamma.Gamma(a[i]), 1e-300);
            dg[i] = GammaPathwiseGradient(a[i], g[i]);
        }
        var shape = concentration.Shape.ToArray();
        var g0 = Tensor.FromArray(g, shape).To(concentration.DType);
        var draws = concentration.RequiresGrad
            ? g0 + (concentration - concentration.Detach()) * Tensor.FromArray(dg, shape).To(concentration.DType)
            : g0;
        return draws / draws.Sum(-1, keepDim: true);
    }

    /// <summary>dx/da of a Gamma(a, 1) draw x held at its quantile: −(∂P/∂a)(a, x) / p(x; a) (implicit reparameterisation).</summary>
    public static double GammaPathwiseGradient(double a, double x)
    {
        if (!(x > 0) || !double.IsFinite(x)) return 0;
        double h = 1e-5 * Math.Max(1, a);
        h = Math.Min(h, a / 2);
        double dPda = (RegularizedLowerGamma(a + h, x) - RegularizedLowerGamma(a - h, x)) / (2 * h);
        double logDensity = (a - 1) * Math.Log(x) - x - GammaFunctions.LogGamma(a);
        return -dPda / Math.Exp(logDensity);
    }

    /// <summary>The Gamma(a, 1) CDF P(a, x) = γ(a, x) / Γ(a) (Numerical Recipes 6.2: series below a + 1, continued fraction above).</summary>
    public static double RegularizedLowerGamma(double a, double x)
    {
        if (x <= 0) return 0;
        double logPrefix = a * Math.Log(x) - x - GammaFunctions.LogGamma(a);
        if (x < a + 1)
        {
            double term = 1 / a, sum = term;
            for (int n = 1; n < 1000 && Math.Abs(term) > Math.Abs(sum) * 1e-17; n++)
            {
                term *= x / (a + n);
                sum += term;
            }
            return sum * Math.Exp(logPrefix);
        }
        // Lentz's method for the continued fraction of Q(a, x) = 1 − P(a, x).
        const double tiny = 1e-300;
        double b = x + 1 - a, c = 1 / tiny, d = 1 / b, f = d;
        for (int i = 1; i < 1000; i++)
        {
            double an = -i * (i - a);
            b += 2;
            d = an * d + b;
            if (Math.Abs(d) < tiny) d = tiny;
            c = b + an / c;
            if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double delta = d * c;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return 1 - Math.Exp(logPrefix) * f;
    }
}
