using Xunit;

namespace Engine.Cli.Tests;

/// <summary>--memory-budget sizes: binary units (1 KB = 1024 bytes, as BitStack's MB), bytes without a unit, a named error otherwise.</summary>
public sealed class MemorySizeTests
{
    [Theory]
    [InlineData("2MB", 2L * 1024 * 1024)]
    [InlineData("500KB", 500L * 1024)]
    [InlineData("500kb", 500L * 1024)]
    [InlineData("1.5 MiB", 3L * 512 * 1024)]
    [InlineData("1GB", 1L << 30)]
    [InlineData("300000", 300000)]
    [InlineData("12B", 12)]
    public void Parse_ReadsNumberAndUnit(string text, long bytes) => Assert.Equal(bytes, MemorySize.Parse(text, "--memory-budget"));

    [Theory]
    [InlineData("")]
    [InlineData("MB")]
    [InlineData("2 XB")]
    [InlineData("-1KB")]
    [InlineData("0.1B")]
    public void Parse_BadSize_NamesTheOption(string text) =>
        Assert.Contains("--memory-budget", Assert.Throws<ArgumentException>(() => MemorySize.Parse(text, "--memory-budget")).Message);
}
