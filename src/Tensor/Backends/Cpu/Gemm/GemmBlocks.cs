using System.Runtime.CompilerServices;

namespace Engine.Backends.Cpu;

/// <summary>The blocking of one micro-kernel on this machine's caches, derived once.</summary>
internal static class GemmBlocks<T, TKernel> where T : unmanaged where TKernel : struct, IGemmMicroKernel<T>
{
    public static readonly GemmBlocking Value = GemmBlocking.Derive(TKernel.MR, TKernel.NR, Unsafe.SizeOf<T>(), CpuCaches.Detected);
}
