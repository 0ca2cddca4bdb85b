using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine nas</c>: the quick search prints its figures; a bad sampler is a one-line user error.</summary>
[Collection(ConsoleCollection.Name)]
public class NasCommandTests
{
    [Theory]
    [InlineData("drnas")]
    [InlineData("darts")]
    public void QuickSearch_PrintsTheChoiceWeightsAndRetrainedLosses(string sampler)
    {
        var result = CliRun.Invoke("nas", "--quick", "--sampler", sampler);
        Assert.True(result.ExitCode == 0, result.Error);
        foreach (var s in new[] { "supernet:", "DARTS mix", $"arch weights ({sampler}", "chosen: embed", "random: embed", "chosen validation loss" })
            Assert.Contains(s, result.Out);
    }

    [Fact]
    public void AnUnknownSampler_IsAOneLineUserError() =>
        CliAssert.OneLineUserError(CliRun.Invoke("nas", "--quick", "--sampler", "spos"), "nas", "'spos'");
}
