using System.Text.Json;
using Engine.Nn;
using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary>`engine sample` reads checkpoints of mixture-of-experts GPTs (GptConfig.Moe) and refuses invalid MoE settings.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class MoeCheckpointTests
{
    static string Checkpoint(GptConfig config, string? configJson = null)
    {
        var path = Path.Combine(CliRun.TempFolder(), "moe.safetensors");
        TrainingCheckpoint.Save(path, new Gpt(config, new Generator(1)), null, 1, values: new Dictionary<string, string>
        {
            ["gpt_config"] = configJson ?? JsonSerializer.Serialize(config),
            ["char_vocabulary"] = Tokenizer.Serialize(),
        });
        return path;
    }

    static readonly CharTokenizer Tokenizer = CharTokenizer.FromTexts(["abcd"]);

    static GptConfig Config => new(Tokenizer.VocabSize, 8, 16, 2, 2, Moe: new MoeOptions(4, TopK: 2, SharedExpert: true));

    [Fact]
    public void Sample_ReadsAMoeCheckpoint()
    {
        var sample = CliRun.Invoke("sample", "--checkpoint", Checkpoint(Config), "--count", "2");
        Assert.True(sample.ExitCode == 0, sample.Error);
        Assert.Equal(2, sample.Out.Count(c => c == '\n'));
    }

    [Fact]
    public void Sample_RefusesAnInvalidMoeSetting_NamingIt()
    {
        var json = JsonSerializer.Serialize(Config).Replace("\"TopK\":2", "\"TopK\":5");
        Assert.Contains("\"TopK\":5", json);
        var path = Checkpoint(Config, json);
        CliAssert.OneLineUserError(CliRun.Invoke("sample", "--checkpoint", path), "sample", path, "Moe: TopK 5");
    }

    [Fact]
    public void TrainWithExperts_ReportsEachLayersExpertLoads_AndSampleReadsItsCheckpoint()
    {
        var path = Path.Combine(CliRun.TempFolder(), "moe-train.safetensors");
        var train = CliRun.Invoke("train", "--steps", "2", "--eval-every", "2", "--samples", "0", "--out", path,
            "--width", "16", "--layers", "2", "--heads", "2", "--context", "12", "--batch", "2", "--experts", "3", "--top-k", "1");
        Assert.True(train.ExitCode == 0, train.Error);
        Assert.Contains("expert loads", train.Out);
        Assert.Contains("blocks.1.moe: [", train.Out);
        Assert.Contains("max/uniform", train.Out);
        var sample = CliRun.Invoke("sample", "--checkpoint", path, "--count", "1");
        Assert.True(sample.ExitCode == 0, sample.Error);
    }

    [Fact]
    public void TrainWithMoreExpertsPerTokenThanExperts_IsRefused()
    {
        var train = CliRun.Invoke("train", "--steps", "1", "--experts", "2", "--top-k", "3", "--out", Path.Combine(CliRun.TempFolder(), "x.safetensors"));
        CliAssert.OneLineUserError(train, "train", "--top-k 3", "--experts 2");
    }
}
