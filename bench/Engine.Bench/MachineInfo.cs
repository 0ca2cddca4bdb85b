using System.Runtime.Intrinsics.X86;

namespace Engine.Bench;

/// <summary>What the numbers were measured on, printed at the top of every report.</summary>
internal static class MachineInfo
{
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
