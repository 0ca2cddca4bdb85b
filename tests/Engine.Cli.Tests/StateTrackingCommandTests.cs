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
