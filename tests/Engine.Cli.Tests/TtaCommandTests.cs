using System.Text.RegularExpressions;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine tta</c> (PSMT's demo, spec seeds-remaining.md §4) and its text corruptions.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class TtaCommandTests
{
    [Fact]
    public void QuickRun_PrintsAnErrorPerDomainForEveryMethod()
    {
        var run = CliRun.Invoke("tta", "--messages", "32", "--source-steps", "2", "--length", "8");
        Assert.True(run.ExitCode == 0, run.Error);
        foreach (var method in new[] { "source", "entropy minimisation", "mean teacher", "PSMT" })
            Assert.Matches($@"^\| {method} \|( \d+\.\d% \|){{7}}\s*$", Regex.Match(run.Out, $"^\\| {method} \\|.*$", RegexOptions.Multiline).Value);
    }

    [Fact]
    public void Corruptions_ChangeWhatTheySay_AndCleanChangesNothing()
    {
        const string text = "Free offer\nSee this site today";
        Assert.Equal(text, TextCorruptions.Apply("clean", text, new Random(1)));
        Assert.Equal("See this site today", TextCorruptions.Apply("no subject", text, new Random(1)));
        Assert.Equal("Fr33 0ff3r\n533 7h15 5173 70d4y", TextCorruptions.Apply("leetspeak", text, new Random(1)));
        Assert.Equal(text.ToLowerInvariant(), TextCorruptions.Apply("random casing", text, new Random(1)).ToLowerInvariant());
        var noisy = TextCorruptions.Apply("character noise", new string('a', 2000), new Random(2));
        Assert.InRange(noisy.Count(c => c != 'a'), 150, 250);   // 10% replaced, 1/26 of them by 'a' again
        var words = string.Join(' ', Enumerable.Repeat("w", 2000));
        Assert.InRange(TextCorruptions.Apply("word dropout", words, new Random(3)).Split(' ').Length, 1500, 1700);
        Assert.Throws<ArgumentException>(() => TextCorruptions.Apply("fog", text, new Random(1)));
    }
}
