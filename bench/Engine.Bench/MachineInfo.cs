using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Engine.Backends.Cpu;

namespace Engine.Bench;

/// <summary>What the numbers were measured on, printed at the top of every report.</summary>
internal static class MachineInfo
{
    /// <summary>
    /// The lines every benchmark prints first: CPU model, cores and ISA; the GEMM kernel and cache blocking the engine
    /// chose; and the settings that narrow the vectors: ENGINE_ISA for the engine's own kernels, and for .NET's
    /// (TensorPrimitives included) DOTNET_EnableAVX512=0 (.NET 10) or DOTNET_EnableAVX512F=0 (.NET 8 and 9), with
    /// whether Vector512 is accelerated, which says which of the two took effect.
    /// </summary>
    public static string Header()
    {
        static string Setting(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? $"{name}={v}" : $"{name} unset";
        return $"CPU: {CpuModel()}, {Environment.ProcessorCount} logical cores, ISA: {Isa()}\n"
            + $"Engine GEMM kernel: {PackedGemm.Description}\n"
            + $"Vector settings: {Setting(CpuIsa.Variable)} (engine kernels: {CpuIsa.Name(CpuIsa.Active)}); "
            + $"{Setting("DOTNET_EnableAVX512F")}, {Setting("DOTNET_EnableAVX512")} (.NET and TensorPrimitives: "
            + $"Vector512 {(Vector512.IsHardwareAccelerated ? "accelerated" : "not accelerated")})";
    }

    public static string CpuModel()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal))
                    return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return "unknown CPU";
    }

    public static string Isa()
    {
        var parts = new List<string>();
        if (Avx512F.IsSupported) parts.Add("AVX-512F");
        if (Avx512BW.IsSupported) parts.Add("BW");
        if (Avx512DQ.IsSupported) parts.Add("DQ");
        if (Avx512F.VL.IsSupported) parts.Add("VL");
        if (Avx2.IsSupported) parts.Add("AVX2");
        if (Fma.IsSupported) parts.Add("FMA");
        return parts.Count == 0 ? "no x86 SIMD" : string.Join(' ', parts);
    }
}
