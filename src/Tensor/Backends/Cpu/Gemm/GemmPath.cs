namespace Engine.Backends.Cpu;

/// <summary>Which micro-kernel family the packed GEMM uses; tests force each one on an AVX-512 machine.</summary>
internal enum GemmPath
{
    /// <summary>Vector512 FMA, 14 x 32 float tiles.</summary>
    Avx512,
    /// <summary>Vector256 FMA, 6 x 16 float tiles.</summary>
    Avx2,
    /// <summary>Vector128 multiply-add, portable to any CPU .NET runs on.</summary>
    Vector128,
}
