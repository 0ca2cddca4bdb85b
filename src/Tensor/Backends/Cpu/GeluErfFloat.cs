using System.Runtime.Intrinsics;

namespace Engine.Backends.Cpu;

/// <summary>
/// The exact (erf) GELU of Float32 tensors and its derivative, vectorised. Phi(x) = 1 - erfc(x / sqrt 2) / 2 with
/// erfc by the Chebyshev fit of Numerical Recipes (2nd ed., section 6.2, erfcc: fractional error below 1.2e-7
/// everywhere, so the negative tail keeps its relative accuracy), fused into one pass of 16-lane (AVX-512) or 8-lane vectors. The scalar
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
        if (CpuIsa.Use512)
            for (; i + Vector512<float>.Count <= x.Length; i += Vector512<float>.Count)
            {
                var v = Vector512.Create(x.Slice(i, Vector512<float>.Count));
                (v * Phi(v)).CopyTo(y.Slice(i, Vector512<float>.Count));
            }
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
        if (CpuIsa.Use512)
            for (; i + Vector512<float>.Count <= x.Length; i += Vector512<float>.Count)
            {
                var v = Vector512.Create(x.Slice(i, Vector512<float>.Count));
                (Phi(v) + v * Vector512.Exp(v * v * -0.5f) * InvSqrt2Pi).CopyTo(y.Slice(i, Vector512<float>.Count));
            }
        for (; i + Vector256<float>.Count <= x.Length; i += Vector256<float>.Count)
        {
            var v = Vector256.Create(x.Slice(i, Vector256<float>.Count));
            Slope(v).CopyTo(y.Slice(i, Vector256<float>.Count));
        }
        for (; i < x.Length; i++) y[i] = Slope(Vector256.Create(x[i])).ToScalar();
    }

    static Vector256<float> Slope(Vector256<float> v) =>
        Phi(v) + v * Vector256.Exp(v * v * -0.5f) * InvSqrt2Pi;

    // The Chebyshev coefficients of erfcc, highest power first: -z^2 - 1.26551223 + t (1.00002368 + t (0.37409196 + ...)).
    static readonly float[] Coefficients =
        [0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f, -0.18628806f, 0.09678418f, 0.37409196f, 1.00002368f, -1.26551223f];

    // Phi(v) = 1 - erfc(v / sqrt 2) / 2, erfc evaluated at |v| / sqrt 2 and reflected for negative v. The same steps
    // for 16 lanes (AVX-512 halves the instruction count) and 8; .NET has no public vector-width-generic Exp to share one body.
    static Vector512<float> Phi(Vector512<float> v)
    {
        var z = Vector512.Abs(v) * InvSqrt2;
        var t = Vector512<float>.One / (Vector512<float>.One + z * 0.5f);
        var p = Vector512.Create(Coefficients[0]);
        for (int c = 1; c < Coefficients.Length; c++) p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(Coefficients[c]));
        var halfErfc = t * Vector512.Exp(p - z * z) * 0.5f;
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(v, Vector512<float>.Zero), Vector512<float>.One - halfErfc, halfErfc);
    }

    static Vector256<float> Phi(Vector256<float> v)
    {
        var z = Vector256.Abs(v) * InvSqrt2;
        var t = Vector256<float>.One / (Vector256<float>.One + z * 0.5f);
        var p = Vector256.Create(Coefficients[0]);
        for (int c = 1; c < Coefficients.Length; c++) p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(Coefficients[c]));
        var halfErfc = t * Vector256.Exp(p - z * z) * 0.5f;
        return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(v, Vector256<float>.Zero), Vector256<float>.One - halfErfc, halfErfc);
    }
}
