using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests;

/// <summary>ENGINE_ISA: each value, its case, bad values, and that the cap picks the capped GEMM kernel.</summary>
public class CpuIsaTests
{
    [Theory]
    [InlineData("avx512", IsaLevel.Avx512)]
    [InlineData("avx2", IsaLevel.Avx2)]
    [InlineData("vector128", IsaLevel.Vector128)]
    [InlineData("AVX2", IsaLevel.Avx2)]
    [InlineData(" Avx512 ", IsaLevel.Avx512)]
    [InlineData("Vector128", IsaLevel.Vector128)]
    public void Resolve_EachValueInAnyCase_GivesThatLevel(string value, IsaLevel expected)
        => Assert.Equal(expected, CpuIsa.Resolve(value, IsaLevel.Avx512));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void Resolve_Unset_GivesTheHardwareLevel(string? value)
    {
        Assert.Equal(IsaLevel.Avx2, CpuIsa.Resolve(value, IsaLevel.Avx2));
        Assert.Equal(IsaLevel.Avx512, CpuIsa.Resolve(value, IsaLevel.Avx512));
    }

    [Theory]
    [InlineData("sse")]
    [InlineData("avx-512")]
    [InlineData("avx")]
    public void Resolve_UnknownValue_ThrowsNamingTheVariableAndTheAllowedValues(string value)
    {
        var e = Assert.Throws<UnsupportedIsaException>(() => CpuIsa.Resolve(value, IsaLevel.Avx512));
        Assert.Contains("ENGINE_ISA", e.Message);
        Assert.Contains("avx512, avx2, vector128", e.Message);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void Resolve_LevelAboveTheCpu_ThrowsNamingWhatThisCpuAllows()
    {
        var e = Assert.Throws<UnsupportedIsaException>(() => CpuIsa.Resolve("avx512", IsaLevel.Avx2));
        Assert.Contains("ENGINE_ISA=avx512", e.Message);
        Assert.Contains("avx2, vector128", e.Message);
        Assert.Throws<UnsupportedIsaException>(() => CpuIsa.Resolve("avx2", IsaLevel.Vector128));
    }

    [Theory]
    [InlineData("avx512", nameof(GemmPath.Avx512))]
    [InlineData("avx2", nameof(GemmPath.Avx2))]
    [InlineData("vector128", nameof(GemmPath.Vector128))]
    public void Cap_SelectsTheCappedGemmKernel(string value, string expectedPath)
        => Assert.Equal(Enum.Parse<GemmPath>(expectedPath), PackedGemm.PathFor(CpuIsa.Resolve(value, IsaLevel.Avx512)));

    [Fact]
    public void BestPath_IsTheActiveLevelsKernel_AndActiveFollowsTheVariable()
    {
        Assert.Equal(CpuIsa.Resolve(Environment.GetEnvironmentVariable(CpuIsa.Variable), CpuIsa.Hardware), CpuIsa.Active);
        Assert.Equal(PackedGemm.PathFor(CpuIsa.Active), PackedGemm.BestPath);
        Assert.StartsWith(PackedGemm.BestPath.ToString(), PackedGemm.Description);
    }
}
