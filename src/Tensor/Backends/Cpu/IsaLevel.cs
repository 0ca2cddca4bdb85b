namespace Engine.Backends.Cpu;

/// <summary>The SIMD kernel families the CPU backend chooses between, narrowest first (so levels compare).</summary>
public enum IsaLevel
{
    /// <summary>128-bit vectors (SSE, NEON or software): runs on any CPU .NET runs on.</summary>
    Vector128,
    /// <summary>256-bit AVX2 with FMA.</summary>
    Avx2,
    /// <summary>512-bit AVX-512F.</summary>
    Avx512,
}
