using Xunit;

namespace Engine.Cli.Tests;

[Collection(ConsoleCollection.Name)]
public sealed class ErrorTests
{
    static void AssertUserError(CliResult result, string command, params string[] mentions)
    {
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"engine {command}: ", result.Error);
        foreach (var m in mentions) Assert.Contains(m, result.Error);
    }

    static string Missing => Path.Combine(Path.GetTempPath(), "engine-cli-no-such-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void MissingModel_IsAUserErrorNamingThePath()
    {
        var path = Missing;
        AssertUserError(CliRun.Invoke("logits", "--model", path, "--ids", "1,2"), "logits", path);
        AssertUserError(CliRun.Invoke("generate", "--model", path, "--ids", "1,2"), "generate", path);
        AssertUserError(CliRun.Invoke("inspect", path), "inspect", path);
    }

    [Fact]
    public void FolderWithoutWeights_IsAUserErrorNamingTheMissingFile()
    {
        var folder = CliRun.TempFolder();
        File.Copy(Path.Combine(CliRun.Golden, "config.json"), Path.Combine(folder, "config.json"));
        AssertUserError(CliRun.Invoke("logits", "--model", folder, "--ids", "1"), "logits", "model.safetensors");
        AssertUserError(CliRun.Invoke("inspect", folder), "inspect", "model.safetensors");
    }

    [Fact]
    public void CorruptSafetensors_IsAUserErrorNamingTheFile()
    {
        var folder = CliRun.TempFolder();
        File.Copy(Path.Combine(CliRun.Golden, "config.json"), Path.Combine(folder, "config.json"));
        var weights = Path.Combine(folder, "model.safetensors");
        File.WriteAllBytes(weights, [0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x42, 0x7b, 0x22, 0x78]);

        AssertUserError(CliRun.Invoke("inspect", weights), "inspect", weights, "safetensors");
        AssertUserError(CliRun.Invoke("inspect", folder), "inspect", weights);
        AssertUserError(CliRun.Invoke("logits", "--model", folder, "--ids", "1"), "logits", weights);
        AssertUserError(CliRun.Invoke("generate", "--model", folder, "--ids", "1"), "generate", weights);
        AssertUserError(CliRun.Invoke("logits", "--model", weights, "--ids", "1"), "logits", weights);
    }

    [Fact]
    public void CorruptConfig_IsAUserErrorNamingTheConfig()
    {
        var folder = CliRun.TempFolder();
        File.WriteAllText(Path.Combine(folder, "config.json"), "{ not json");
        File.Copy(Path.Combine(CliRun.Golden, "model.safetensors"), Path.Combine(folder, "model.safetensors"));
        AssertUserError(CliRun.Invoke("logits", "--model", folder, "--ids", "1"), "logits", "config.json");
    }

    [Theory]
    [InlineData("logits", "1,x,3", "'x' is not an integer")]
    [InlineData("logits", "1.5", "'1.5' is not an integer")]
    [InlineData("logits", "", "no token ids")]
    [InlineData("logits", "1,64", "token id 64 is out of vocabulary")]
    [InlineData("logits", "-1", "token id -1 is out of vocabulary")]
    [InlineData("generate", "1,x", "'x' is not an integer")]
    [InlineData("generate", "3,1000", "token id 1000 is out of vocabulary")]
    public void BadIds_AreUserErrorsNamingTheId(string command, string ids, string message)
    {
        var args = new List<string> { command, "--model", CliRun.Golden, "--ids", ids };
        if (command == "logits") args.AddRange(["--out", Path.Combine(CliRun.TempFolder(), "l.safetensors")]);
        AssertUserError(CliRun.Invoke([.. args]), command, message);
    }

    [Fact]
    public void TooManyIds_AreAUserErrorNamingTheContextLength()
    {
        var ids = string.Join(",", Enumerable.Range(0, 33).Select(i => i % 64));
        AssertUserError(CliRun.Invoke("logits", "--model", CliRun.Golden, "--ids", ids, "--out", Path.Combine(CliRun.TempFolder(), "l.safetensors")), "logits", "context length 32");
    }

    [Fact]
    public void Prompt_WithoutTokenizerAndASmallVocabulary_IsRefusedPointingToIds()
        => AssertUserError(CliRun.Invoke("generate", "--model", CliRun.Golden, "--prompt", "hello"), "generate", "no tokenizer", "256", "--ids");

    [Fact]
    public void Generate_WithBothOrNeitherPrompt_IsAUserError()
    {
        AssertUserError(CliRun.Invoke("generate", "--model", CliRun.Golden), "generate", "--prompt", "--ids");
        AssertUserError(CliRun.Invoke("generate", "--model", CliRun.Golden, "--prompt", "a", "--ids", "1"), "generate", "exactly one");
    }

    [Fact]
    public void MissingRequiredOption_IsAUserErrorNamingTheOption()
        => AssertUserError(CliRun.Invoke("logits", "--ids", "1"), "logits", "--model");

    [Fact]
    public void TrainingCheckpointPath_ThatIsAPlainSafetensorsFile_IsAUserError()
    {
        var path = Path.Combine(CliRun.TempFolder(), "plain.safetensors");
        Engine.Nn.Checkpoints.Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros(2) });
        AssertUserError(CliRun.Invoke("logits", "--model", path, "--ids", "1"), "logits", "not a training checkpoint");
    }
}
