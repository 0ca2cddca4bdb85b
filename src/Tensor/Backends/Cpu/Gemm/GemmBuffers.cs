using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Backends.Cpu;

/// <summary>
/// Per-thread packing buffers, kept between calls so a GEMM in a training loop allocates nothing.
/// They are pinned managed arrays rather than native memory so that a worker thread that dies
/// takes its buffers with it (the garbage collector owns storage lifetime, see DESIGN.md).
/// </summary>
internal static unsafe class GemmBuffers<T> where T : unmanaged
{
    /// <summary>Alignment of each buffer: one cache line, also the width of a zmm load.</summary>
    private const int Alignment = 64;

    [ThreadStatic] private static T[]? s_a;
    [ThreadStatic] private static T[]? s_b;
    [ThreadStatic] private static T[]? s_scratch;
    [ThreadStatic] private static T[]? s_gradientScratch;

    /// <summary>A 64-byte aligned buffer of at least <paramref name="count"/> elements for packed A.</summary>
    public static T* PackedA(long count) => Get(ref s_a, count);

    /// <summary>A 64-byte aligned buffer of at least <paramref name="count"/> elements for packed B.</summary>
    public static T* PackedB(long count) => Get(ref s_b, count);

    /// <summary>A 64-byte aligned buffer of at least <paramref name="count"/> elements for a kernel's intermediate (attention scores).</summary>
    public static T* Scratch(long count) => Get(ref s_scratch, count);

    /// <summary>A second intermediate buffer for a backward kernel that needs two at once (attention's dP beside P).</summary>
    public static T* GradientScratch(long count) => Get(ref s_gradientScratch, count);

    private static T* Get(ref T[]? buffer, long count)
    {
        long needed = count + Alignment / sizeof(T);
        if (buffer is null || buffer.Length < needed)
            buffer = GC.AllocateUninitializedArray<T>(checked((int)needed), pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
        nint aligned = (address + (Alignment - 1)) & ~(nint)(Alignment - 1);
        return (T*)aligned;
    }
}
