using DocExamples;

namespace Engine.Docs.Tests;

/// <summary>docs/nn.md: the training loop, run from a folder holding data/names as the repository does.</summary>
public sealed class NnDocTests
{
    [Fact]
    public void TheTrainerExampleLearnsBelowTheUnigramBaselineAndEvaluatesTwice()
    {
        using var folder = new ScratchFolder("data/names/female.txt");
        var ((result, corpus), printed) = ConsoleOutput.Capture(NnTrainer.Run);
        Assert.Equal(100, result.Steps);
        Assert.True(result.FinalLoss < corpus.UnigramBaseline(), $"loss {result.FinalLoss} vs unigram {corpus.UnigramBaseline()}");
        var lines = printed.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("step 50: validation loss ", lines[0]);
        Assert.StartsWith("step 100: validation loss ", lines[1]);
        double last = double.Parse(lines[1]["step 100: validation loss ".Length..]);
        Assert.True(last < corpus.UnigramBaseline(), $"validation loss {last} vs unigram {corpus.UnigramBaseline()}");
    }
}
