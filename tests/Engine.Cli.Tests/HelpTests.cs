using Xunit;

namespace Engine.Cli.Tests;

[Collection(ConsoleCollection.Name)]
public sealed class HelpTests
{
    [Theory]
    [InlineData("generate", "--model|--prompt|--ids|--max-new-tokens|--temperature|--top-k|--top-p|--greedy|--seed")]
    [InlineData("logits", "--model|--ids|--out")]
    [InlineData("inspect", "<path>|safetensors")]
    [InlineData("train", "--steps|--eval-every|--samples|--out|--width|--layers|--heads|--context|--batch")]
    [InlineData("sample", "--checkpoint|--count|--temperature|--prefix")]
    [InlineData("demo", "--seed")]
    public void Help_ExitsZeroAndListsTheOptions(string command, string mentions)
    {
        var result = CliRun.Invoke(command, "--help");

        Assert.Equal(0, result.ExitCode);
        // The usage line names the host executable (testhost here, engine when installed), then the command.
        Assert.Matches($@"(?m)^Usage:\s*\n\s+\S+ {command}\b", result.Out);
        foreach (var m in mentions.Split('|')) Assert.Contains(m, result.Out);
    }

    [Fact]
    public void RootHelp_ListsEveryCommand()
    {
        var result = CliRun.Invoke("--help");
        Assert.Equal(0, result.ExitCode);
        foreach (var command in new[] { "train", "sample", "generate", "logits", "inspect", "demo" }) Assert.Contains(command, result.Out);
    }
}
