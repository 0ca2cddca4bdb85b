using System.Text.Json;
using Engine.Nn;
using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary>Checkpoints and folders that cannot be used are refused in one line saying what is wrong and what is expected.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class CheckpointFileTests
{
    // A checkpoint with train's metadata keys whose configuration is the given text.
    static string CheckpointWithConfig(string configJson)
    {
        var path = Path.Combine(CliRun.TempFolder(), "bad.safetensors");
        var model = new Gpt(new GptConfig(5, 8, 16, 1, 2), new Generator(1));
        TrainingCheckpoint.Save(path, model, null, 1, values: new Dictionary<string, string>
        {
            ["gpt_config"] = configJson,
            ["char_vocabulary"] = CharTokenizer.FromTexts(["abcd"]).Serialize(),
        });
        return path;
    }

    [Fact]
    public void ConfigThatIsNotJson_IsRefusedNamingTheFile()
    {
        var path = CheckpointWithConfig("{ not json");
        CliAssert.OneLineUserError(CliRun.Invoke("sample", "--checkpoint", path), "sample", path, "gpt_config", "not valid JSON");
    }

    [Fact]
    public void ConfigWithZeroHeads_IsRefusedNamingTheField()
    {
        var json = JsonSerializer.Serialize(new GptConfig(5, 8, 16, 1, 2)).Replace("\"Heads\":2", "\"Heads\":0");
        Assert.Contains("\"Heads\":0", json);
        var path = CheckpointWithConfig(json);
        CliAssert.OneLineUserError(CliRun.Invoke("sample", "--checkpoint", path), "sample", path, "Heads 0");
    }

    [Fact]
    public void CheckpointOptionGivenAFolder_SaysItIsAFolderAndWhatFileIsExpected()
    {
        var folder = CliRun.TempFolder();
        CliAssert.OneLineUserError(CliRun.Invoke("sample", "--checkpoint", folder), "sample", folder, "is a folder", "engine train --out FILE");
    }

    [Fact]
    public void FullFineTuning_SavesANamesCheckpointThatSampleAndInspectRead()
    {
        var folder = Path.Combine(CliRun.TempFolder(), "full");
        var finetune = CliRun.Invoke("finetune", "--checkpoint", TinyNamesModel.File, "--adapter", "full", "--steps", "1", "--batch", "2", "--out", folder);
        Assert.True(finetune.ExitCode == 0, finetune.Error);
        var file = Path.Combine(folder, "model.safetensors");
        var sample = CliRun.Invoke("sample", "--checkpoint", file, "--count", "2");
        Assert.True(sample.ExitCode == 0, sample.Error);
        Assert.Equal(2, sample.Out.Count(c => c == '\n'));
        // The folder itself is pointed to the file inside it.
        CliAssert.OneLineUserError(CliRun.Invoke("sample", "--checkpoint", folder), "sample", file);
    }

    [Fact]
    public void Inspect_OfAnAdapterFolder_ShowsItsMethodConfigAndTensors()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-lora");
        var result = CliRun.Invoke("inspect", folder);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("PEFT adapter folder (LORA)", result.Out);
        Assert.Contains("\"r\":", result.Out);
        // Expected from the file through the library: every tensor listed and the total counted.
        using var weights = Safetensors.Open(Path.Combine(folder, "adapter_model.safetensors"));
        foreach (var name in weights.Names) Assert.Contains(name, result.Out);
        Assert.Contains($"adapter parameters: {weights.Names.Sum(n => weights.Info(n).Numel):N0}", result.Out);
    }
}
