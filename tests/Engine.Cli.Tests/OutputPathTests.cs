using Xunit;

namespace Engine.Cli.Tests;

/// <summary>Paths a command writes are checked before it works, so a run never ends by losing what it computed.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class OutputPathTests
{
    [Fact]
    public void Train_IntoAnExistingFolder_IsRefusedBeforeTraining_AndTheFolderKeepsItsFiles()
    {
        var folder = CliRun.TempFolder();
        var kept = Path.Combine(folder, "notes.txt");
        File.WriteAllText(kept, "mine");
        var result = CliRun.Invoke("train", "--out", folder, "--steps", "1");
        CliAssert.OneLineUserError(result, "train", "--out", folder, "folder");
        Assert.Equal("", result.Out); // nothing trained
        Assert.Equal("mine", File.ReadAllText(kept));
    }

    [Fact]
    public void Finetune_IntoAnExistingFile_IsRefusedBeforeTraining_AndTheFileIsUntouched()
    {
        var file = Path.Combine(CliRun.TempFolder(), "adapter");
        File.WriteAllText(file, "mine");
        var result = CliRun.Invoke("finetune", "--checkpoint", TinyNamesModel.File, "--steps", "1", "--out", file);
        CliAssert.OneLineUserError(result, "finetune", "--out", file, "is a file");
        Assert.Equal("", result.Out);
        Assert.Equal("mine", File.ReadAllText(file));
    }

    [Fact]
    public void Logits_UnderAPathThroughAFile_NamesTheUsersPath_NotATemporaryFile()
    {
        var blocker = Path.Combine(CliRun.TempFolder(), "file.txt");
        File.WriteAllText(blocker, "x");
        var output = Path.Combine(blocker, "dir", "x.safetensors");
        var result = CliRun.Invoke("logits", "--model", CliRun.Golden, "--ids", "1", "--out", output);
        CliAssert.OneLineUserError(result, "logits", "--out", output, blocker);
        Assert.DoesNotContain(".tmp", result.Error);
    }

    [Fact]
    public void Logits_IntoAMissingFolder_CreatesIt()
    {
        var output = Path.Combine(CliRun.TempFolder(), "missing", "dir", "x.safetensors");
        var result = CliRun.Invoke("logits", "--model", CliRun.Golden, "--ids", "1", "--out", output);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.True(File.Exists(output));
    }
}
