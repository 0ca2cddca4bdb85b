using Xunit;

namespace Engine.Cli.Tests;

[Collection(ConsoleCollection.Name)]
public sealed class ForecastCommandTests
{
    [Fact]
    public void ForecastQuick_PrintsTheIdentificationAndForecastTables()
    {
        var run = CliRun.Invoke("forecast", "--quick");
        Assert.True(run.ExitCode == 0, run.Error);
        var identification = run.Out.Split('\n').Where(l => l.StartsWith("| AR(") && l.Contains("| (")).ToList();
        Assert.Equal(2, identification.Count);
        Assert.All(identification, r => Assert.Matches(@"\| \d+\.\d{4} \| \d+\.\d{4} \|$", r.TrimEnd()));
        Assert.Contains("| AR(2) | (0.350, 0.570) |", run.Out);
        foreach (var model in new[] { "oracle", "SpaceTime closed loop", "SpaceTime open loop, zero-padded", "zero (the mean)" })
            Assert.Equal(2, run.Out.Split('\n').Count(l => l.Contains($"| {model}")));
    }

    [Theory]
    [InlineData("--lag", "4")]
    [InlineData("--horizon", "0")]
    [InlineData("--steps", "0")]
    [InlineData("--w0", "-1")]
    public void ForecastOptionsOutOfRange_AreOneLineUserErrors(string option, string value)
    {
        var run = CliRun.Invoke("forecast", option, value);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(option, run.Error);
    }

    [Fact]
    public void ForecastWithAllWeightsZero_IsAUserError()
    {
        var run = CliRun.Invoke("forecast", "--quick", "--w0", "0", "--w1", "0", "--w2", "0");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("cannot all be 0", run.Error);
    }
}
