using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Backends.Cpu;

/// <summary>
/// Which SIMD kernel family the CPU backend uses wherever it picks one itself (the GEMM micro-kernel, the short-A
/// GEMM, the fused attention, 512-bit elementwise loops): the best this CPU has, capped by the environment variable
/// <c>ENGINE_ISA</c> (<c>avx512</c>, <c>avx2</c> or <c>vector128</c>), read once, so that one machine can measure
/// what a narrower CPU would get.
/// </summary>
/// <example><code>ENGINE_ISA=avx2 DOTNET_EnableAVX512F=0 dotnet run -c Release --project bench/Engine.Bench -- gemm</code></example>
public static class CpuIsa
{
    /// <summary>The environment variable that caps the kernel family.</summary>
    public const string Variable = "ENGINE_ISA";

    /// <summary>The values <see cref="Variable"/> accepts, widest first.</summary>
    public const string AllowedValues = "avx512, avx2, vector128";

    /// <summary>The widest family this CPU (as .NET reports it) can run.</summary>
    public static IsaLevel Hardware { get; } =
        Avx512F.IsSupported ? IsaLevel.Avx512
        : Avx2.IsSupported && Fma.IsSupported ? IsaLevel.Avx2
        : IsaLevel.Vector128;

    // The resolved family, or -1 before the first use. A plain int read inlines into every kernel that asks (a
    // nullable field's ??= did not, and cost half a percent of a training step in calls).
    static int _active = -1;

    /// <summary>
    /// The family in use: <see cref="Hardware"/> capped by <see cref="Variable"/>. Throws
    /// <see cref="UnsupportedIsaException"/> on first use if the variable is unknown or names a family this CPU lacks.
    /// </summary>
    public static IsaLevel Active
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            int active = _active;
            return active >= 0 ? (IsaLevel)active : ResolveActive();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static IsaLevel ResolveActive()
    {
        var level = Resolve(Environment.GetEnvironmentVariable(Variable), Hardware);
        _active = (int)level;
        return level;
    }

    /// <summary>Whether 512-bit loops may run: the cap allows them and .NET accelerates <see cref="Vector512"/>.</summary>
    internal static bool Use512
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Active == IsaLevel.Avx512 && Vector512.IsHardwareAccelerated;
    }

    /// <summary>
    /// The family for a value of <see cref="Variable"/> on a CPU whose widest family is <paramref name="hardware"/>:
    /// null or blank means <paramref name="hardware"/>; names are case-insensitive.
    /// </summary>
    public static IsaLevel Resolve(string? value, IsaLevel hardware)
    {
        if (string.IsNullOrWhiteSpace(value)) return hardware;
        IsaLevel requested = value.Trim().ToLowerInvariant() switch
        {
            "avx512" => IsaLevel.Avx512,
            "avx2" => IsaLevel.Avx2,
            "vector128" => IsaLevel.Vector128,
            _ => throw new UnsupportedIsaException($"{Variable}='{value}' is not a kernel family; allowed values: {AllowedValues} (unset: the best this CPU has, {Name(hardware)})."),
        };
        if (requested > hardware)
            throw new UnsupportedIsaException($"{Variable}={Name(requested)}: this CPU (as .NET reports it) runs at most {Name(hardware)}; allowed values here: {string.Join(", ", AllowedOn(hardware))}.");
        return requested;
    }

    /// <summary>The lower-case name <see cref="Variable"/> uses for <paramref name="level"/>.</summary>
    public static string Name(IsaLevel level) => level.ToString().ToLowerInvariant();

    static IEnumerable<string> AllowedOn(IsaLevel hardware)
    {
        for (var level = hardware; level >= IsaLevel.Vector128; level--) yield return Name(level);
    }
}
