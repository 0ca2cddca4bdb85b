using Xunit;

namespace Engine.Cli.Tests;

public sealed class ProgressLineTests
{
    [Theory]
    [InlineData(0, "00:00")]
    [InlineData(59.4, "00:59")]
    [InlineData(61, "01:01")]
    [InlineData(3599, "59:59")]
    [InlineData(3600, "1:00:00")]
    [InlineData(3 * 3600 + 25 * 60 + 7, "3:25:07")]
    [InlineData(30 * 3600 + 5, "30:00:05")]
    public void Durations_KeepTheirHours(double seconds, string expected)
        => Assert.Equal(expected, ProgressLine.Format(TimeSpan.FromSeconds(seconds)));
}
