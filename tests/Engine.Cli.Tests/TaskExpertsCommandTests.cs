using System.Text.RegularExpressions;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine task-experts</c> (spec seeds-remaining.md §7's demo) and its pieces: task labels, subject cleaning, ROC AUC.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class TaskExpertsCommandTests
{
    [Fact]
    public void QuickRun_PrintsOneRowPerModel_WithAucsInTheUnitInterval()
    {
        var run = CliRun.Invoke("task-experts", "--limit", "40", "--steps", "3", "--length", "8", "--dim", "8", "--batch", "8");
        Assert.True(run.ExitCode == 0, run.Error);
        foreach (var model in new[] { "single-task", "shared bottom", "MMoE", "DTRN bottoms \\+ MMoE", "APEM", "OFVL-MS gated sharing" })
            Assert.Matches($@"^\| {model}[^|]* \| [\d,]+( models)? \| (0\.\d{{4}}|1\.0000|NaN) \| (0\.\d{{4}}|1\.0000|NaN) \| (0\.\d{{4}}|1\.0000|NaN) \|", Regex.Match(run.Out, $"^\\| {model}.*$", RegexOptions.Multiline).Value);
        Assert.Contains("OFVL-MS gated sharing gates after training: layer 1:", run.Out);
    }

    [Fact]
    public void Labels_AndCleanedSubjects_HideTheMarkersTheTasksAreMadeOf()
    {
        Assert.Equal([0, 1, 1], SpamTaskData.LabelsOf("Re: [SAtalk] RBL timed out", 0));
        Assert.Equal([1, 0, 0], SpamTaskData.LabelsOf("FREE money!!!", 1));
        Assert.Equal([0, 0, 1], SpamTaskData.LabelsOf("Fwd: [ILUG] meeting", 0));
        Assert.Equal("RBL timed out", SpamTaskData.CleanSubject("Re: [SAtalk] RBL timed out"));
        Assert.Equal("meeting", SpamTaskData.CleanSubject("RE: Re: [ILUG] meeting [2]"));
        Assert.Equal([1f, 1f, 1f, 1f, 0f], SpamTaskData.FlagsOf("WIN $$$ NOW!", "see http://x"));
    }

    [Fact]
    public void RocAuc_CountsPairs_WithTiesAsHalf()
    {
        // Pairs (positive, negative): scores 0.9 > 0.1, 0.9 > 0.5, 0.5 = 0.5 (half), 0.5 > 0.1: 3.5 of 4.
        Assert.Equal(3.5 / 4, RocAuc.Of([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]), 12);
        Assert.Equal(0, RocAuc.Of([0.1, 0.9], [1, 0]));
        Assert.True(double.IsNaN(RocAuc.Of([0.3, 0.4], [1, 1])));
        // Against the pair count by loops on a random case with many ties.
        var random = new Random(3);
        var scores = Enumerable.Range(0, 60).Select(_ => (double)random.Next(5)).ToArray();
        var labels = Enumerable.Range(0, 60).Select(_ => random.Next(2)).ToArray();
        double wins = 0, pairs = 0;
        for (int i = 0; i < 60; i++)
            for (int j = 0; j < 60; j++)
                if (labels[i] == 1 && labels[j] == 0) { pairs++; wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0; }
        Assert.Equal(wins / pairs, RocAuc.Of(scores, labels), 12);
    }
}
