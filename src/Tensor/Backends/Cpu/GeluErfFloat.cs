using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Backends.Cpu;

/// <summary>
/// The exact (erf) GELU of Float32 tensors and its derivative, vectorised. Phi(x) = 1 - erfc(x / sqrt 2) / 2 with
/// erfc by the Chebyshev fit of Numerical Recipes (2nd ed., section 6.2, erfcc: fractional error below 1.2e-7
/// everywhere, so the negative tail keeps its relative accuracy), fused into one pass of 16-lane (AVX-512) or 8-lane vectors. The scalar
/// MathNet erf it replaces for Float32 cost ~50 ns per element and took more time than BERT's matrix products;
/// Float64 keeps MathNet, the tests' reference. Everything is inlined into the loop (<see cref="ExpFloat"/> included):
/// a vector passed to a helper by memory stalls on store forwarding and cost as much as the arithmetic.
/// </summary>
static class GeluErfFloat
{
    const float InvSqrt2 = 0.70710678f, InvSqrt2Pi = 0.39894228f;

    /// <summary>y = x Phi(x); x and y may be the same memory.</summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y) => FloatVectorMap.Apply<Value>(x, y);

    /// <summary>x Phi(x) of 16 lanes, inlined into the caller (the GEMM's epilogue).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Gelu(Vector512<float> v) => v * Phi(v);

    /// <summary>x Phi(x) of 8 lanes, inlined into the caller.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Gelu(Vector256<float> v) => v * Phi(v);

    /// <summary>y = d/dx x Phi(x) = Phi(x) + x phi(x); x and y may be the same memory.</summary>
    public static void Derivative(ReadOnlySpan<float> x, Span<float> y) => FloatVectorMap.Apply<Slope>(x, y);

    readonly struct Value : IFloatVectorFunction
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Of(Vector512<float> v) => Gelu(v);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Of(Vector256<float> v) => Gelu(v);
    }

    readonly struct Slope : IFloatVectorFunction
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Of(Vector512<float> v) => Phi(v) + v * ExpFloat.Exp(v * v * -0.5f) * InvSqrt2Pi;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Of(Vector256<float> v) => Phi(v) + v * ExpFloat.Exp(v * v * -0.5f) * InvSqrt2Pi;
    }

    // The Chebyshev coefficients of erfcc, highest power first: -z^2 - 1.26551223 + t (1.00002368 + t (0.37409196 + ...)),
    // as constants (not an array) so the polynomial is straight-line code with its coefficients as broadcast operands.
    const float C0 = 0.17087277f, C1 = -0.82215223f, C2 = 1.48851587f, C3 = -1.13520398f, C4 = 0.27886807f,
        C5 = -0.18628806f, C6 = 0.09678418f, C7 = 0.37409196f, C8 = 1.00002368f, C9 = -1.26551223f;

    // Phi(v) = 1 - erfc(v / sqrt 2) / 2, erfc evaluated at |v| / sqrt 2 and reflected for negative v. The same steps
    // for 16 lanes (AVX-512 halves the instruction count) and 8; .NET has no public vector-width-generic Exp to share one body.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Phi(Vector512<float> v)
    {
        // z is capped where erfc(z) is 0 in float anyway (erfc(16) ~ 1e-113), so that t never meets inf * 0.
        var z = Vector512.Min(Vector512.Abs(v) * InvSqrt2, Vector512.Create(16f));
        var t = Reciprocal(Vector512<float>.One + z * 0.5f);
        var p = Vector512.Create(C0);
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C1));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C2));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C3));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C4));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C5));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C6));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C7));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C8));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C9));
        var halfErfc = t * ExpFloat.Exp(p - z * z) * 0.5f;
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(v, Vector512<float>.Zero), Vector512<float>.One - halfErfc, halfErfc);
    }

    // 1 / d for d in [1, 9]: the 14-bit estimate and one Newton step (relative error ~4e-9) where AVX-512 has it,
    // a fraction of a 16-lane division's cost.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Reciprocal(Vector512<float> d)
    {
        if (!Avx512F.IsSupported) return Vector512<float>.One / d;
        var r = Avx512F.Reciprocal14(d);
        return r * (Vector512.Create(2f) - d * r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Phi(Vector256<float> v)
    {
        var z = Vector256.Min(Vector256.Abs(v) * InvSqrt2, Vector256.Create(16f));
        var t = Vector256<float>.One / (Vector256<float>.One + z * 0.5f);
        var p = Vector256.Create(C0);
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C1));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C2));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C3));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C4));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C5));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C6));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C7));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C8));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C9));
        var halfErfc = t * ExpFloat.Exp(p - z * z) * 0.5f;
        return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(v, Vector256<float>.Zero), Vector256<float>.One - halfErfc, halfErfc);
    }
}
