using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Backends.Cpu;

/// <summary>
/// e^x of Float32 vectors for the non-positive arguments of a shifted softmax and of the erf GELU's tail, inlined
/// into the caller's loop. .NET's Vector512.Exp(float) evaluates in double precision behind a call that passes vectors
/// through memory, and cost as much as the GELU around it; this is the textbook single-precision form: x = n ln 2 + r
/// with |r| &lt;= ln 2 / 2 (ln 2 split in two parts, Cody and Waite), e^r by its degree-7 Taylor polynomial
/// (truncation below 6e-9), and 2^n placed in the exponent bits. Relative error below 3e-7 (a few ulp; tested against
/// Math.Exp). Arguments below -87.33, where e^x would be denormal, give 0; NaN gives NaN; arguments above 88.02 (where 2^n would overflow the exponent field) are not
/// supported (the callers never pass them).
/// </summary>
static class ExpFloat
{
    const float Log2E = 1.44269504f, Ln2High = 0.693145752f, Ln2Low = 1.42860677e-6f, Underflow = -87.33f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var n = Vector512.Round(Vector512.Max(x, Vector512.Create(Underflow)) * Log2E);
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2High), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Low), r);
        var p = Vector512.Create(1f / 5040);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        // 2^n: n + 127 in the exponent field (n >= -126 after the clamp above).
        var twoN = (Vector512.ConvertToInt32(n) + Vector512.Create(127)) << 23;
        var e = p * twoN.AsSingle();
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(Underflow)), Vector512<float>.Zero, e);
    }

    // The same steps on 8 lanes (AVX2 machines and row tails): .NET has no public width-generic vector interface to
    // write them once.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var n = Vector256.Round(Vector256.Max(x, Vector256.Create(Underflow)) * Log2E);
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2High), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Low), r);
        var p = Vector256.Create(1f / 5040);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 720));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 120));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 24));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 6));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        var twoN = (Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23;
        var e = p * twoN.AsSingle();
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(Underflow)), Vector256<float>.Zero, e);
    }
}
