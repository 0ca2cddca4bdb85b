using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine convert --recursive</c>: the Relaxed Recursive Transformer of a names model, its report, its files, its errors.</summary>
[Collection(ConsoleCollection.Name)]
public class ConvertCommandTests
{
    [Fact]
    public void FullRank_KeepsTheDenseLoss_AndSavesATiedBaseWithItsAdapter()
    {
        var folder = CliRun.TempFolder();
        // Full rank (the width, 16): the converted model before uptraining is the dense one.
        var result = CliRun.Invoke("convert", "--recursive", "--checkpoint", TinyNamesModel.TwoLayerFile, "--loops", "2", "--rank", "16", "--steps", "2", "--batch", "2", "--out", folder);
        Assert.True(result.ExitCode == 0, result.Error);
        var dense = Loss(result.Out, "dense:");
        var converted = Loss(result.Out, "recursive:");
        Assert.Equal(dense, converted, 3);
        Assert.Contains("after 2 uptraining steps", result.Out);
        using (var file = Safetensors.Open(Path.Combine(folder, ConvertCommand.BaseFileName)))
        {
            Assert.DoesNotContain("model.blocks.1.attn.qkv.weight", file.Names);
            Assert.Contains("model.blocks.1.attn.qkv.bias", file.Names);
            Assert.Contains("model.blocks.1.ln1.weight", file.Names);
        }
        Assert.True(File.Exists(Path.Combine(folder, ConvertCommand.AdapterFolder, "adapter_config.json")));
        // Both files load where a names model and its adapter load.
        var generate = CliRun.Invoke("generate", "--model", Path.Combine(folder, ConvertCommand.BaseFileName), "--adapter", Path.Combine(folder, ConvertCommand.AdapterFolder), "--prompt", "a", "--max-new-tokens", "3");
        Assert.True(generate.ExitCode == 0, generate.Error);
    }

    [Fact]
    public void StrictTying_ChangesTheLossBeforeUptraining()
    {
        var result = CliRun.Invoke("convert", "--recursive", "--checkpoint", TinyNamesModel.TwoLayerFile, "--loops", "2", "--rank", "0", "--steps", "0");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.NotEqual(Loss(result.Out, "dense:"), Loss(result.Out, "recursive:"), 4);
    }

    [Fact]
    public void BadRequests_AreOneLineUserErrors()
    {
        CliAssert.OneLineUserError(CliRun.Invoke("convert", "--checkpoint", TinyNamesModel.TwoLayerFile), "convert", "--recursive");
        CliAssert.OneLineUserError(CliRun.Invoke("convert", "--recursive", "--checkpoint", TinyNamesModel.TwoLayerFile, "--loops", "3"), "convert", "multiple of the recursions");
        CliAssert.OneLineUserError(CliRun.Invoke("convert", "--recursive", "--checkpoint", TinyNamesModel.TwoLayerFile, "--rank", "17", "--steps", "0"), "convert", "rank 17");
    }

    static double Loss(string output, string linePrefix)
    {
        var line = output.Split('\n').First(l => l.StartsWith(linePrefix));
        int at = line.IndexOf("validation loss ", StringComparison.Ordinal) + "validation loss ".Length;
        return double.Parse(line[at..].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }
}
