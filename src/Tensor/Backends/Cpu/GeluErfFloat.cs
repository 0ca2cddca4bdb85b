using System.Runtime.Intrinsics;

namespace Engine.Backends.Cpu;

/// <summary>
/// The exact (erf) GELU of Float32 tensors and its derivative, vectorised. Phi(x) = 1 - erfc(x / sqrt 2) / 2 with
/// erfc by the Chebyshev fit of Numerical Recipes (2nd ed., section 6.2, erfcc: fractional error below 1.2e-7
/// everywhere, so the negative tail keeps its relative accuracy), fused into one pass of 8-lane vectors. The scalar
/// MathNet erf it replaces for Float32 cost ~50 ns per element and took more time than BERT's matrix products;
/// Float64 keeps MathNet, the tests' reference.
/// </summary>
static class GeluErfFloat
{
    const float InvSqrt2 = 0.70710678f, InvSqrt2Pi = 0.39894228f;

    /// <summary>y = x Phi(x); x and y may be the same memory.</summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0;
        for (; i + Vector256<float>.Count <= x.Length; i += Vector256<float>.Count)
        {
            var v = Vector256.Create(x.Slice(i, Vector256<float>.Count));
            (v * Phi(v)).CopyTo(y.Slice(i, Vector256<float>.Count));
        }
        for (; i < x.Length; i++) y[i] = x[i] * Phi(Vector256.Create(x[i])).ToScalar();
    }

    /// <summary>y = d/dx x Phi(x) = Phi(x) + x phi(x); x and y may be the same memory.</summary>
    public static void Derivative(ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0;
        for (; i + Vector256<float>.Count <= x.Length; i += Vector256<float>.Count)
        {
            var v = Vector256.Create(x.Slice(i, Vector256<float>.Count));
            Slope(v).CopyTo(y.Slice(i, Vector256<float>.Count));
        }
        for (; i < x.Length; i++) y[i] = Slope(Vector256.Create(x[i])).ToScalar();
    }

    static Vector256<float> Slope(Vector256<float> v) =>
        Phi(v) + v * Vector256.Exp(v * v * -0.5f) * InvSqrt2Pi;

    // Phi(v) = 1 - erfc(v / sqrt 2) / 2, erfc evaluated at |v| / sqrt 2 and reflected for negative v.
    static Vector256<float> Phi(Vector256<float> v)
    {
        var z = Vector256.Abs(v) * InvSqrt2;
        var t = Vector256<float>.One / (Vector256<float>.One + z * 0.5f);
        // -z^2 - 1.26551223 + t (1.00002368 + t (0.37409196 + ... + t 0.17087277)), Horner's rule
        var p = Vector256.Create(0.17087277f);
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(-0.82215223f));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(1.48851587f));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(-1.13520398f));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(0.27886807f));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(-0.18628806f));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(0.09678418f));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(0.37409196f));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(1.00002368f));
        var exponent = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(-1.26551223f)) - z * z;
        var halfErfc = t * Vector256.Exp(exponent) * 0.5f;
        return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(v, Vector256<float>.Zero), Vector256<float>.One - halfErfc, halfErfc);
    }
}
