using System.Diagnostics;
using System.Text.Json.Nodes;
using Engine.Nn.Tests.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests;

/// <summary>
/// Every broken or hostile config.json fails Gpt2Checkpoint.Load with one exception type, InvalidDataException naming
/// the file and the field, and a config that disagrees with the weights fails before any model is built.
/// </summary>
public sealed class Gpt2CheckpointHostileConfigTests : IDisposable
{
    readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    // The golden fixture's weights with config.json rewritten by `edit` (or replaced by `rawConfig`).
    string FolderWithConfig(Action<JsonObject>? edit = null, string? rawConfig = null)
    {
        var folder = Directory.CreateDirectory(_folder.File("ckpt-" + Guid.NewGuid().ToString("N"))).FullName;
        File.Copy(Path.Combine(Gpt2GoldenTests.Folder, Gpt2Checkpoint.WeightsFileName), Path.Combine(folder, Gpt2Checkpoint.WeightsFileName));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Gpt2GoldenTests.Folder, Gpt2Checkpoint.ConfigFileName)))!.AsObject();
        edit?.Invoke(config);
        File.WriteAllText(Path.Combine(folder, Gpt2Checkpoint.ConfigFileName), rawConfig ?? config.ToJsonString());
        return folder;
    }

    [Theory]
    [InlineData("n_head", 0, "'n_head' is 0")]
    [InlineData("n_head", 3, "'n_head' is 3, which does not divide")]
    [InlineData("n_layer", -1, "'n_layer' is -1")]
    [InlineData("n_embd", 0, "'n_embd' is 0")]
    [InlineData("vocab_size", -5, "'vocab_size' is -5")]
    [InlineData("n_positions", 0, "'n_positions' is 0")]
    [InlineData("layer_norm_epsilon", -1, "'layer_norm_epsilon' is -1")]
    [InlineData("resid_pdrop", 1.5, "dropout probabilities")]
    public void Load_WithAnOutOfRangeField_ThrowsInvalidDataNamingFileAndField(string field, double value, string mention)
    {
        var folder = FolderWithConfig(c =>
        {
            c[field] = value == Math.Floor(value) ? JsonValue.Create((int)value) : JsonValue.Create(value);
            if (field == "resid_pdrop") { c["embd_pdrop"] = value; c["attn_pdrop"] = value; }
        });
        var e = Assert.Throws<InvalidDataException>(() => Gpt2Checkpoint.Load(folder));
        Assert.Contains(Path.Combine(folder, Gpt2Checkpoint.ConfigFileName), e.Message);
        Assert.Contains(mention, e.Message);
    }

    [Fact]
    public void Load_WithADuplicateKey_ThrowsInvalidDataNamingTheField()
    {
        var config = File.ReadAllText(Path.Combine(Gpt2GoldenTests.Folder, Gpt2Checkpoint.ConfigFileName)).TrimEnd().TrimEnd('}') + ", \"n_layer\": 2}";
        var folder = FolderWithConfig(rawConfig: config);
        var e = Assert.Throws<InvalidDataException>(() => Gpt2Checkpoint.Load(folder));
        Assert.Contains("field 'n_layer' appears twice", e.Message);
    }

    [Theory]
    [InlineData(100_000)]
    [InlineData(int.MaxValue)]
    public void Load_WithAHugeLayerCount_FailsAgainstTheWeightsBeforeBuildingAnything(int layers)
    {
        var folder = FolderWithConfig(c => c["n_layer"] = layers);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<InvalidDataException>(() => Gpt2Checkpoint.Load(folder));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20, "allocated the model the config describes");
        Assert.Contains($"n_layer is {layers}, but", e.Message);
        Assert.Contains(Gpt2Checkpoint.WeightsFileName, e.Message);
    }

    [Fact]
    public void Load_WithAWiderConfigThanTheWeights_NamesTheKeyAndBothShapes_BeforeBuilding()
    {
        var folder = FolderWithConfig(c => c["vocab_size"] = 1_000_000);
        var e = Assert.Throws<InvalidDataException>(() => Gpt2Checkpoint.Load(folder));
        Assert.Contains("wte.weight", e.Message);
        Assert.Contains("the config expects [1000000,", e.Message);
    }
}
