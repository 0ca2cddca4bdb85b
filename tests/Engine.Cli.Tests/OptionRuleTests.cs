using Xunit;

namespace Engine.Cli.Tests;

/// <summary>Single values outside their option's rule are refused while parsing, before any work, naming the option.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class OptionRuleTests
{
    [Theory]
    [InlineData("train --steps 0", "--steps")]
    [InlineData("train --steps -1", "--steps")]
    [InlineData("train --batch 0", "--batch")]
    [InlineData("train --lr -1", "--lr")]
    [InlineData("train --lr nan", "--lr")]
    [InlineData("train --eval-every 0", "--eval-every")]
    [InlineData("train --context 0", "--context")]
    [InlineData("train --width 0", "--width")]
    [InlineData("train --samples -1", "--samples")]
    [InlineData("state-tracking --steps 0", "--steps")]
    [InlineData("state-tracking --length 0", "--length")]
    [InlineData("state-tracking --length -3", "--length")]
    [InlineData("state-tracking --width 0", "--width")]
    [InlineData("long-range --steps -1", "--steps")]
    [InlineData("long-range --length 0", "--length")]
    [InlineData("long-range --length 1", "--length")]
    [InlineData("long-range --width 0", "--width")]
    [InlineData("classify --steps 0", "--steps")]
    [InlineData("classify --length 0", "--length")]
    [InlineData("classify --lr nan", "--lr")]
    [InlineData("finetune --steps 0", "--steps")]
    [InlineData("finetune --batch 0", "--batch")]
    [InlineData("finetune --lr -1", "--lr")]
    [InlineData("finetune --rank 0", "--rank")]
    [InlineData("sample --count -1", "--count")]
    [InlineData("sample --count 0", "--count")]
    [InlineData("embed --text a --batch 0", "--batch")]
    [InlineData("zoo --steps 0", "--steps")]
    public void ValueOutsideItsRange_IsRefusedInOneLineNamingTheOption(string args, string option)
    {
        var words = args.Split(' ');
        var result = CliRun.Invoke(words);
        CliAssert.OneLineUserError(result, words[0], option);
        Assert.Equal("", result.Out); // refused while parsing: nothing ran
    }

    [Theory]
    [InlineData("train --heads 3", "--heads 3", "--width 64")]
    [InlineData("state-tracking --width 3", "--width", "3")]
    [InlineData("long-range --width 3", "--width", "3")]
    public void OptionsThatMustAgree_AreRefusedBeforeAnyWork(string args, params string[] mentions)
    {
        var words = args.Split(' ');
        var result = CliRun.Invoke(words);
        CliAssert.OneLineUserError(result, words[0], mentions);
        Assert.Equal("", result.Out);
    }

    [Theory]
    [InlineData("--top-p", "2")]
    [InlineData("--top-p", "0")]
    [InlineData("--top-p", "-0.5")]
    [InlineData("--top-k", "-5")]
    [InlineData("--temperature", "-1")]
    [InlineData("--temperature", "nan")]
    public void SamplingOptions_FollowTheSameRuleInSampleAndGenerate(string option, string value)
    {
        var sample = CliRun.Invoke("sample", "--checkpoint", TinyNamesModel.File, option, value);
        var generate = CliRun.Invoke("generate", "--model", CliRun.Golden, "--ids", "1", option, value);
        CliAssert.OneLineUserError(sample, "sample", option);
        CliAssert.OneLineUserError(generate, "generate", option);
        // One rule, one message: the text after the command name is the same.
        Assert.Equal(sample.Error["engine sample: ".Length..].Replace("sample", ""), generate.Error["engine generate: ".Length..].Replace("generate", ""));
    }

    [Fact]
    public void ValuesThatMustFitTheModel_AreRefusedNamingTheOption()
    {
        CliAssert.OneLineUserError(CliRun.Invoke("sample", "--checkpoint", TinyNamesModel.File, "--prefix", "Ω"), "sample", "--prefix", "'Ω'");
        CliAssert.OneLineUserError(CliRun.Invoke("classify", "--model", "minilm", "--length", "100000", "--steps", "1"), "classify", "--length", "512");
    }

    [Fact]
    public void EmptyAdapterValue_IsRefusedInsteadOfIgnored()
    {
        CliAssert.OneLineUserError(CliRun.Invoke("generate", "--model", CliRun.Golden, "--ids", "1", "--adapter", ""), "generate", "--adapter");
        CliAssert.OneLineUserError(CliRun.Invoke("logits", "--model", CliRun.Golden, "--ids", "1", "--adapter"), "logits", "--adapter");
    }
}
