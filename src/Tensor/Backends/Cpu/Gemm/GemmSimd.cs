using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Backends.Cpu;

/// <summary>
/// Fused multiply-add on generic vectors. The kernels are written once over <c>T</c> (float or double);
/// the JIT specialises each instantiation and removes the dead type branch, so this costs nothing.
/// </summary>
internal static class GemmSimd
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Fma<T>(Vector512<T> a, Vector512<T> b, Vector512<T> c)
    {
        if (typeof(T) == typeof(float))
            return Avx512F.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Avx512F.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        throw new NotSupportedException($"GEMM: element type {typeof(T).Name} is not supported; use float or double.");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Fma<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c)
    {
        if (typeof(T) == typeof(float))
            return System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        throw new NotSupportedException($"GEMM: element type {typeof(T).Name} is not supported; use float or double.");
    }

    /// <summary>Portable multiply-add: fused where the hardware has it (the fallback must run anywhere).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Fma<T>(Vector128<T> a, Vector128<T> b, Vector128<T> c)
    {
        if (typeof(T) == typeof(float))
            return Vector128.MultiplyAddEstimate(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector128.MultiplyAddEstimate(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        throw new NotSupportedException($"GEMM: element type {typeof(T).Name} is not supported; use float or double.");
    }

    /// <summary>
    /// The C update every path uses, so that a tile stored by a vector kernel and an edge tile stored
    /// element by element round identically: <c>beta == 0</c> never reads C (NaN-safe), otherwise one FMA.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Update<T>(T acc, T alpha, T beta, T old) where T : unmanaged, IFloatingPointIeee754<T>
        => T.IsZero(beta) ? alpha * acc : T.FusedMultiplyAdd(beta, old, alpha * acc);
}
