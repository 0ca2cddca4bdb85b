using System.Text.RegularExpressions;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine autolora</c> (AutoLoRA's demo, spec seeds-remaining.md §1) on the tiny names model.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class AutoloraCommandTests
{
    [Fact]
    public void QuickRun_RetrievesAndFuses_PrintingEveryRow()
    {
        var run = CliRun.Invoke("autolora", "--checkpoint", TinyNamesModel.File, "--seeds", "2", "--steps", "2", "--encoder-steps", "3", "--gate-steps", "2");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Matches(@"library: 20 rank-2 LoRAs \(10 attributes x 2 seeds", run.Out);
        Assert.Matches(@"held-out seeds: top-1 \d+\.\d%, top-3 \d+\.\d% of 10 queries \(chance 10\.0% and 30\.0%\)", run.Out);
        Assert.Equal(3, Regex.Matches(run.Out, @"^\| retrieved LoRA \d alone \([^)]*\) \| \d+\.\d{4} \|", RegexOptions.Multiline).Count);
        Assert.Matches(@"^\| gated fusion, gates trained 2 steps \| \d+\.\d{4} \|", Regex.Match(run.Out, @"^\| gated fusion.*$", RegexOptions.Multiline).Value);

        CliAssert.OneLineUserError(CliRun.Invoke("autolora", "--checkpoint", "no-such.safetensors"), "autolora", "no-such.safetensors");
    }
}
