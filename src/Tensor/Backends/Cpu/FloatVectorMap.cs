using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Backends.Cpu;

/// <summary>An elementwise Float32 function at the two vector widths, for <see cref="FloatVectorMap.Apply{TFunction}"/>.</summary>
internal interface IFloatVectorFunction
{
    static abstract Vector512<float> Of(Vector512<float> x);
    static abstract Vector256<float> Of(Vector256<float> x);
}

/// <summary>
/// y[i] = f(x[i]) in one pass: 16 lanes where the engine uses AVX-512, then 8, then the last values one at a time
/// through an 8-lane vector. The function is a struct type argument, so its body is compiled into these loops
/// (vectors never go through memory between calls); the GELUs and their derivatives share this one loop.
/// </summary>
internal static class FloatVectorMap
{
    /// <summary>x and y may be the same memory.</summary>
    public static void Apply<TFunction>(ReadOnlySpan<float> x, Span<float> y) where TFunction : struct, IFloatVectorFunction
    {
        int i = 0;
        if (CpuIsa.Use512)
            for (; i + Vector512<float>.Count <= x.Length; i += Vector512<float>.Count)
                TFunction.Of(Vector512.Create(x.Slice(i, Vector512<float>.Count))).CopyTo(y.Slice(i, Vector512<float>.Count));
        for (; i + Vector256<float>.Count <= x.Length; i += Vector256<float>.Count)
            TFunction.Of(Vector256.Create(x.Slice(i, Vector256<float>.Count))).CopyTo(y.Slice(i, Vector256<float>.Count));
        for (; i < x.Length; i++) y[i] = TFunction.Of(Vector256.Create(x[i])).ToScalar();
    }
}
