using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Backends.Cpu;

/// <summary>
/// The handful of vector operations the streaming small-M tiles and the micro-kernels' stores need, abstracted over
/// the vector width so one source serves Vector512 (AVX-512: twice the FMA throughput per instruction on full-width
/// cores), Vector256 (AVX2) and Vector128 (the portable kernel). Static abstract members on structs are specialised
/// and inlined by the JIT.
/// </summary>
internal unsafe interface IVectorOps<TV, T> where TV : struct where T : unmanaged
{
    static abstract int Count { get; }
    static abstract TV Load(T* source);
    static abstract void Store(TV value, T* destination);
    static abstract TV Broadcast(T value);
    static abstract TV Fma(TV a, TV b, TV addend);
    static abstract TV Multiply(TV a, TV b);
    static abstract TV Add(TV a, TV b);
    static abstract T Sum(TV value);
}

/// <summary>Vector512 operations (needs AVX-512F).</summary>
internal readonly unsafe struct Vector512Ops<T> : IVectorOps<Vector512<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector512<T>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Load(T* source) => Vector512.Load(source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<T> value, T* destination) => value.Store(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Broadcast(T value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Fma(Vector512<T> a, Vector512<T> b, Vector512<T> addend) => GemmSimd.Fma(a, b, addend);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Multiply(Vector512<T> a, Vector512<T> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Add(Vector512<T> a, Vector512<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(Vector512<T> value) => Vector512.Sum(value);
}

/// <summary>Vector256 operations (needs AVX2 and FMA).</summary>
internal readonly unsafe struct Vector256Ops<T> : IVectorOps<Vector256<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector256<T>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Load(T* source) => Vector256.Load(source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<T> value, T* destination) => value.Store(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Broadcast(T value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Fma(Vector256<T> a, Vector256<T> b, Vector256<T> addend) => GemmSimd.Fma(a, b, addend);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Multiply(Vector256<T> a, Vector256<T> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Add(Vector256<T> a, Vector256<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(Vector256<T> value) => Vector256.Sum(value);
}

/// <summary>Vector128 operations (any CPU; the multiply-add is fused where the hardware has it).</summary>
internal readonly unsafe struct Vector128Ops<T> : IVectorOps<Vector128<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector128<T>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Load(T* source) => Vector128.Load(source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<T> value, T* destination) => value.Store(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Broadcast(T value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Fma(Vector128<T> a, Vector128<T> b, Vector128<T> addend) => GemmSimd.Fma(a, b, addend);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Multiply(Vector128<T> a, Vector128<T> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Add(Vector128<T> a, Vector128<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(Vector128<T> value) => Vector128.Sum(value);
}
