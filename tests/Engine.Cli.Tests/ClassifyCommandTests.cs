using Xunit;

namespace Engine.Cli.Tests;

[Collection(ConsoleCollection.Name)]
public sealed class ClassifyCommandTests
{
    [Fact]
    public void Classify_OnTheEmbeddedSpamSet_ReportsHeldOutAccuracyAndF1()
    {
        var run = CliRun.Invoke("classify", "--steps", "2", "--length", "32");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("data: 2250 messages", run.Out);
        Assert.Contains("450 held out", run.Out);
        Assert.Matches(@"held out \(450 messages\): accuracy \d+\.\d%, spam precision \d+\.\d%, recall \d+\.\d%, F1 \d\.\d{3}", run.Out);
        Assert.Matches(@"lora: [\d,]+ trainable of [\d,]+ parameters", run.Out);
    }

    [Fact]
    public void Classify_WithAMissingFileOrBadMethod_FailsWithExitCode2()
    {
        var missing = CliRun.Invoke("classify", "--data", "/nonexistent/spam.jsonl");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("no file at '/nonexistent/spam.jsonl'", missing.Error);
        var bad = CliRun.Invoke("classify", "--adapter", "bogus");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("no adapter method named 'bogus'", bad.Error);
    }
}
