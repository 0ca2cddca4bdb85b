namespace Engine.Nn;

/// <summary>
/// log Γ, digamma ψ and trigamma ψ' for positive arguments in double precision, for the Dirichlet KL of MonteCLoRA
/// (MontecloraSampler) and the implicit Gamma reparameterisation of TangleNAS's DrNAS sampler: torch's <c>lgamma</c>, <c>digamma</c> and <c>polygamma(1, ·)</c>.
/// </summary>
public static class GammaFunctions
{
    // Lanczos' approximation with g = 7 and 9 terms (relative error about 1e-15; Press et al., Numerical Recipes, 6.1).
    static readonly double[] Lanczos =
    [
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
        12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];

    /// <summary>log Γ(x) for x &gt; 0.</summary>
    public static double LogGamma(double x)
    {
        RequirePositive(x, nameof(LogGamma));
        // Reflection Γ(x) Γ(1 - x) = π / sin(π x) below 1/2, where the series is less accurate.
        if (x < 0.5) return Math.Log(Math.PI / Math.Sin(Math.PI * x)) - LogGamma(1 - x);
        x -= 1;
        double a = Lanczos[0];
        double t = x + 7.5;
        for (int i = 1; i < Lanczos.Length; i++) a += Lanczos[i] / (x + i);
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(a);
    }

    /// <summary>ψ(x) = d log Γ(x) / dx for x &gt; 0.</summary>
    public static double Digamma(double x)
    {
        RequirePositive(x, nameof(Digamma));
        double shift = 0;
        // ψ(x) = ψ(x + 1) - 1/x up to x >= 10, then the asymptotic series (Abramowitz and Stegun 6.3.18).
        while (x < 10) { shift -= 1 / x; x += 1; }
        double inv2 = 1 / (x * x);
        return shift + Math.Log(x) - 0.5 / x
            - inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (1.0 / 240 - inv2 * (1.0 / 132 - inv2 * (691.0 / 32760))))));
    }

    /// <summary>ψ'(x) = d ψ(x) / dx for x &gt; 0.</summary>
    public static double Trigamma(double x)
    {
        RequirePositive(x, nameof(Trigamma));
        double shift = 0;
        // ψ'(x) = ψ'(x + 1) + 1/x² up to x >= 10, then the asymptotic series (Abramowitz and Stegun 6.4.12).
        while (x < 10) { shift += 1 / (x * x); x += 1; }
        double inv = 1 / x, inv2 = inv * inv;
        return shift + inv + inv2 / 2
            + inv * inv2 * (1.0 / 6 - inv2 * (1.0 / 30 - inv2 * (1.0 / 42 - inv2 * (1.0 / 30 - inv2 * (5.0 / 66 - inv2 * (691.0 / 2730))))));
    }

    static void RequirePositive(double x, string function)
    {
        if (!(x > 0) || double.IsPositiveInfinity(x)) throw new ArgumentOutOfRangeException(nameof(x), $"GammaFunctions.{function}: the argument must be positive and finite, got {x}");
    }
}
