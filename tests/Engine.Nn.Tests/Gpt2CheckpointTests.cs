using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Engine.Nn.Tests.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests;

/// <summary>
/// Gpt2Checkpoint's file handling: names, the Save→Load round trip, the key variants of Hugging Face files and the
/// errors for broken folders. Checkpoints come from the PyTorch fixture in tests/golden/gpt2-tiny.
/// </summary>
public sealed class Gpt2CheckpointTests : IDisposable
{
    readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    static string Fixture => Gpt2GoldenTests.Folder;

    static Dictionary<string, Tensor> FixtureWeights() => Safetensors.Load(Path.Combine(Fixture, Gpt2Checkpoint.WeightsFileName));

    /// <summary>A checkpoint folder with the fixture's config.json and the given tensors as model.safetensors.</summary>
    string FolderWith(IReadOnlyDictionary<string, Tensor> weights, string name = "ckpt")
    {
        var folder = Directory.CreateDirectory(_folder.File(name)).FullName;
        File.Copy(Path.Combine(Fixture, Gpt2Checkpoint.ConfigFileName), Path.Combine(folder, Gpt2Checkpoint.ConfigFileName));
        Safetensors.Save(Path.Combine(folder, Gpt2Checkpoint.WeightsFileName), weights);
        return folder;
    }

    static void AssertSameParameters(Gpt expected, Gpt actual)
    {
        var want = expected.StateDict();
        var got = actual.StateDict();
        Assert.Equal(want.Keys.Order(StringComparer.Ordinal), got.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, t) in want)
            Assert.True(t.ToArray<float>().SequenceEqual(got[name].ToArray<float>()), $"{name} differs");
    }

    [Fact]
    public void HfName_MapsEveryGptParameterOneToOneAndEngineNameInvertsIt()
    {
        var model = Gpt2Checkpoint.Load(Fixture);
        var hubKeys = FixtureWeights().Keys.Where(k => !k.EndsWith(".attn.bias", StringComparison.Ordinal) && !k.EndsWith(".attn.masked_bias", StringComparison.Ordinal));

        var mapped = model.NamedParameters().Select(p => Gpt2Checkpoint.HfName(p.Name)).ToList();

        Assert.Equal(hubKeys.Order(StringComparer.Ordinal), mapped.Order(StringComparer.Ordinal));
        foreach (var (name, _) in model.NamedParameters())
        {
            Assert.Equal(name, Gpt2Checkpoint.EngineName(Gpt2Checkpoint.HfName(name)));
            Assert.Equal(name, Gpt2Checkpoint.EngineName("transformer." + Gpt2Checkpoint.HfName(name)));
        }
        Assert.Equal("h.1.attn.c_attn.weight", Gpt2Checkpoint.HfName("blocks.1.attn.qkv.weight"));
        Assert.Equal("h.0.mlp.c_proj.bias", Gpt2Checkpoint.HfName("blocks.0.mlp.proj.bias"));
        Assert.Equal("lm_head.weight", Gpt2Checkpoint.HfName("head.weight"));
        Assert.Equal("blocks.0.ln2.weight", Gpt2Checkpoint.EngineName("h.0.ln_2.weight"));
        Assert.Throws<ArgumentException>(() => Gpt2Checkpoint.EngineName("h.0.attn.c_attn.scale"));
        Assert.Throws<ArgumentException>(() => Gpt2Checkpoint.HfName("blocks.0.attn.lora_a.weight"));
    }

    [Fact]
    public void IsConv1DWeight_HoldsForTheFourProjectionWeightsOfEachBlockOnly()
    {
        var model = Gpt2Checkpoint.Load(Fixture);

        var conv = model.NamedParameters().Select(p => p.Name).Where(Gpt2Checkpoint.IsConv1DWeight).Order(StringComparer.Ordinal);

        Assert.Equal(
            ["blocks.0.attn.proj.weight", "blocks.0.attn.qkv.weight", "blocks.0.mlp.fc.weight", "blocks.0.mlp.proj.weight",
             "blocks.1.attn.proj.weight", "blocks.1.attn.qkv.weight", "blocks.1.mlp.fc.weight", "blocks.1.mlp.proj.weight"], conv);
    }

    [Fact]
    public void Load_ReadsTheConfigAndTransposesConv1DWeights()
    {
        var weights = FixtureWeights();

        var model = Gpt2Checkpoint.Load(Fixture);

        Assert.Equal(new GptConfig(64, 32, 32, 2, 4, MlpRatio: 4, Dropout: 0, TiedHead: true, LayerNormEps: 1e-5, GeluTanh: true), model.Config);
        Assert.False(model.Training);
        var qkv = model.Blocks[1].Attn.Qkv.Weight;
        Assert.Equal([96, 32], qkv.Shape);
        Assert.Equal(weights["h.1.attn.c_attn.weight"].T.Contiguous().ToArray<float>(), qkv.ToArray<float>());
        Assert.Equal(weights["wte.weight"].ToArray<float>(), model.Tok.Weight.ToArray<float>());
    }

    [Fact]
    public void Gpt2Checkpoint_SaveThenLoad_RoundTripsEveryParameterAndTheConfig()
    {
        var original = Gpt2Checkpoint.Load(Fixture);
        var folder = _folder.File("saved");

        Gpt2Checkpoint.Save(original, folder);
        var reloaded = Gpt2Checkpoint.Load(folder);

        Assert.Equal(original.Config, reloaded.Config);
        AssertSameParameters(original, reloaded);
    }

    [Fact]
    public void Save_WritesTheHubLayoutOfTheFileItWasLoadedFrom()
    {
        var source = FixtureWeights();
        var folder = _folder.File("saved");

        Gpt2Checkpoint.Save(Gpt2Checkpoint.Load(Fixture), folder);
        var written = Safetensors.Load(Path.Combine(folder, Gpt2Checkpoint.WeightsFileName));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, Gpt2Checkpoint.ConfigFileName)))!;

        var parameters = source.Where(kv => kv.Value.DType == DType.Float32 && !kv.Key.EndsWith("masked_bias", StringComparison.Ordinal)).ToList();
        Assert.Equal(parameters.Select(kv => kv.Key).Order(StringComparer.Ordinal), written.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, t) in parameters)
        {
            Assert.Equal(t.Shape, written[key].Shape);
            Assert.True(t.ToArray<float>().SequenceEqual(written[key].ToArray<float>()), $"{key} differs from the source file");
        }
        Assert.Equal("gelu_new", (string?)config["activation_function"]);
        Assert.Equal(32, (int?)config["n_positions"]);
        Assert.Equal(4, (int?)config["n_head"]);
    }

    [Fact]
    public void Load_AcceptsTransformerPrefixAndAnExplicitTiedHead()
    {
        var weights = FixtureWeights();
        var prefixed = weights.ToDictionary(kv => "transformer." + kv.Key, kv => kv.Value);
        prefixed["lm_head.weight"] = weights["wte.weight"];

        var model = Gpt2Checkpoint.Load(FolderWith(prefixed));

        AssertSameParameters(Gpt2Checkpoint.Load(Fixture), model);
    }

    [Fact]
    public void Load_MissingFolder_ThrowsNamingTheFolder()
    {
        var folder = _folder.File("absent");

        var e = Assert.Throws<DirectoryNotFoundException>(() => Gpt2Checkpoint.Load(folder));

        Assert.Contains(folder, e.Message);
    }

    [Fact]
    public void Load_MissingWeightsFile_ThrowsNamingTheFile()
    {
        var folder = Directory.CreateDirectory(_folder.File("config-only")).FullName;
        File.Copy(Path.Combine(Fixture, Gpt2Checkpoint.ConfigFileName), Path.Combine(folder, Gpt2Checkpoint.ConfigFileName));

        var e = Assert.Throws<FileNotFoundException>(() => Gpt2Checkpoint.Load(folder));

        Assert.Contains(Gpt2Checkpoint.WeightsFileName, e.Message);
    }

    [Fact]
    public void Load_MissingConfig_ThrowsNamingTheFile()
    {
        var folder = Directory.CreateDirectory(_folder.File("weights-only")).FullName;

        var e = Assert.Throws<FileNotFoundException>(() => Gpt2Checkpoint.Load(folder));

        Assert.Contains(Gpt2Checkpoint.ConfigFileName, e.Message);
    }

    [Fact]
    public void Load_MissingAndUnexpectedKeys_ThrowNamingThem()
    {
        var weights = FixtureWeights();
        weights.Remove("h.1.mlp.c_fc.bias");
        weights["h.1.mlp.c_gate.weight"] = Tensor.Zeros(2, 2);

        var e = Assert.Throws<InvalidDataException>(() => Gpt2Checkpoint.Load(FolderWith(weights)));

        Assert.Contains("missing keys [h.1.mlp.c_fc.bias]", e.Message);
        Assert.Contains("unexpected keys [h.1.mlp.c_gate.weight]", e.Message);
    }

    [Fact]
    public void Load_WrongShape_ThrowsNamingTheKeyAndBothShapes()
    {
        var weights = FixtureWeights();
        weights["h.0.attn.c_attn.weight"] = weights["h.0.attn.c_attn.weight"].T.Contiguous(); // Linear layout by mistake

        var e = Assert.Throws<InvalidDataException>(() => Gpt2Checkpoint.Load(FolderWith(weights)));

        Assert.Contains("'h.0.attn.c_attn.weight'", e.Message);
        Assert.Contains("[96,32]", e.Message);
        Assert.Contains("[32,96]", e.Message);
    }

    [Theory]
    [InlineData("gelu_new", true)]
    [InlineData("gelu_pytorch_tanh", true)]
    [InlineData("gelu", false)]
    public void ReadConfig_MapsGeluVariants(string activation, bool tanh)
    {
        var folder = FolderWithConfig(json => json["activation_function"] = activation);

        Assert.Equal(tanh, Gpt2Checkpoint.ReadConfig(folder).GeluTanh);
    }

    [Fact]
    public void ReadConfig_UnsupportedActivation_ThrowsNamingItAndTheSupportedOnes()
    {
        var folder = FolderWithConfig(json => json["activation_function"] = "relu");

        var e = Assert.Throws<InvalidDataException>(() => Gpt2Checkpoint.ReadConfig(folder));

        Assert.Contains("'relu'", e.Message);
        Assert.Contains("gelu_new", e.Message);
    }

    [Fact]
    public void ReadConfig_FallsBackToNCtxAndNamesAMissingField()
    {
        var nCtx = FolderWithConfig(json => json.Remove("n_positions"), "n-ctx");
        var noWidth = FolderWithConfig(json => json.Remove("n_embd"), "no-width");

        Assert.Equal(32, Gpt2Checkpoint.ReadConfig(nCtx).ContextLength);
        Assert.Contains("'n_embd'", Assert.Throws<InvalidDataException>(() => Gpt2Checkpoint.ReadConfig(noWidth)).Message);
    }

    string FolderWithConfig(Action<JsonObject> edit, string name = "config")
    {
        var folder = Directory.CreateDirectory(_folder.File(name)).FullName;
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixture, Gpt2Checkpoint.ConfigFileName)))!.AsObject();
        edit(json);
        File.WriteAllText(Path.Combine(folder, Gpt2Checkpoint.ConfigFileName), json.ToJsonString());
        return folder;
    }
}
