using Xunit;

namespace Engine.Cli.Tests;

[Collection(ConsoleCollection.Name)]
public sealed class StateTrackingCommandTests
{
    [Fact]
    public void StateTracking_PrintsAnAccuracyRowPerTaskAndModel()
    {
        var run = CliRun.Invoke("state-tracking", "--steps", "2", "--width", "8", "--length", "4", "--layers", "1");
        Assert.True(run.ExitCode == 0, run.Error);
        var rows = run.Out.Split('\n').Where(l => l.StartsWith("| parity") || l.StartsWith("| S3")).ToList();
        Assert.Equal(4, rows.Count);
        Assert.All(rows, r => Assert.Matches(@"\| \d+\.\d% \| \d+\.\d% \|", r));
        Assert.Contains("accuracy at 8", run.Out);
    }
}

[Collection(ConsoleCollection.Name)]
public sealed class LongRangeCommandTests
{
    [Fact]
    public void LongRange_PrintsOneRowPerModelWithEqualParameterCounts()
    {
        var run = CliRun.Invoke("long-range", "--steps", "2", "--length", "16", "--width", "8");
        Assert.True(run.ExitCode == 0, run.Error);
        var rows = run.Out.Split('\n').Where(l => l.StartsWith("| S4D") || l.StartsWith("| attention")).ToList();
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.Matches(@"\| [\d,]+ \| \d+\.\d% \|", r));
    }
}
