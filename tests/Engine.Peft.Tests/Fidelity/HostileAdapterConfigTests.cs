using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Fidelity;

/// <summary>
/// Adapter folders someone else wrote: every config error is an <see cref="InvalidDataException"/> that names the file
/// and the field, found before anything is allocated or attached, and the model is bit-identical afterwards.
/// </summary>
public class HostileAdapterConfigTests
{
    const string AdapterAttn = "transformer.h.0.attn.c_attn";

    // A valid rank-2 LoRA adapter of the tiny GPT, then the config text edited.
    static string Folder(Func<string, string> editConfig)
    {
        var folder = TempFolder();
        Peft.Apply(TinyGpt(), Lora(targets: ["qkv", "fc"])).SavePretrained(folder);
        var path = Path.Combine(folder, AdapterFiles.ConfigFileName);
        File.WriteAllText(path, editConfig(File.ReadAllText(path)));
        return folder;
    }

    static string Field(string field, string json) => Folder(text =>
    {
        var node = JsonNode.Parse(text)!.AsObject();
        node[field] = JsonNode.Parse(json);
        return node.ToJsonString();
    });

    // Loads onto a fresh model and onto one holding another adapter; both must be unchanged after the failure.
    static TException FailsLeavingModelsUnchanged<TException>(string folder) where TException : Exception
    {
        try
        {
            TException? first = null;
            foreach (var peft in new[] { new PeftModel<Gpt>(TinyGpt()), Peft.Apply(TinyGpt(), Lora(targets: ["qkv", "proj"], seed: 9), "a") })
            {
                var before = ModelSnapshot.Of(peft);
                var names = peft.AdapterNames.ToList();
                var logits = peft.Forward(Ids()).ToDoubleArray();
                var e = Assert.Throws<TException>(() => peft.LoadAdapter(folder, "b"));
                first ??= e;
                Assert.Equal(names, peft.AdapterNames);
                before.AssertUnchanged(peft);
                Assert.Equal(logits, peft.Forward(Ids()).ToDoubleArray());
            }
            return first!;
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void HugeRank_IsRejectedFromTheHeaderBeforeAllocatingTheAdapter()
    {
        var folder = Field("r", "1000000");
        var gpt = TinyGpt();
        var before = ModelSnapshot.Of(gpt);
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(gpt, folder));
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Directory.Delete(folder, recursive: true);
        // lora_A alone would be [1000000, 16] floats (64 MB).
        Assert.True(allocated < 4 << 20, $"allocated {allocated} bytes before rejecting r = 1000000");
        Assert.Contains(AdapterAttn + ".lora_A.weight", e.Message);
        Assert.Contains("1000000", e.Message);
        before.AssertUnchanged(gpt);
    }

    [Theory]
    [InlineData("r", "\"two\"")]
    [InlineData("r", "[2]")]
    [InlineData("r", "2.5")]
    [InlineData("lora_alpha", "{}")]
    [InlineData("target_modules", "7")]
    [InlineData("rank_pattern", "{\"qkv\": \"x\"}")]
    [InlineData("alpha_pattern", "[1]")]
    [InlineData("init_lora_weights", "\"bogus\"")]
    [InlineData("layers_to_transform", "\"0\"")]
    public void WrongTypedField_NamesTheFileAndTheField(string field, string json)
    {
        var e = FailsLeavingModelsUnchanged<InvalidDataException>(Field(field, json));
        Assert.Contains(AdapterFiles.ConfigFileName, e.Message);
        Assert.Contains(field, e.Message);
    }

    [Theory]
    [InlineData("{ \"peft_type\": \"LORA\", ")]
    [InlineData("[1, 2]")]
    [InlineData("")]
    [InlineData("{\"peft_type\": \"LORA\", \"r\": 2, \"r\": 3}")]
    public void InvalidJson_NamesTheFile(string text)
    {
        var e = FailsLeavingModelsUnchanged<InvalidDataException>(Folder(_ => text));
        Assert.Contains(AdapterFiles.ConfigFileName, e.Message);
    }

    [Fact]
    public void IntegerTensorOfTheRightShape_IsRejectedByDtype()
    {
        var folder = Folder(text => text);
        var weights = Path.Combine(folder, AdapterFiles.WeightsFileName);
        var state = Safetensors.Load(weights);
        var key = state.Keys.First(k => k.Contains("lora_B"));
        state[key] = state[key].To(DType.Int32);
        Safetensors.Save(weights, state);
        var e = FailsLeavingModelsUnchanged<InvalidDataException>(folder);
        Assert.Contains(key, e.Message);
        Assert.Contains("I32", e.Message);
    }

    [Fact]
    public void DuplicateKey_NamesTheKey()
    {
        var e = FailsLeavingModelsUnchanged<InvalidDataException>(Folder(text => text.Replace("\"r\":", "\"r\": 2, \"r\":")));
        Assert.Contains("'r'", e.Message);
    }

    [Theory]
    [InlineData("target_modules", "\"(\"")]
    [InlineData("target_modules", "\"[a-\"")]
    [InlineData("exclude_modules", "\"*x\"")]
    [InlineData("rank_pattern", "{\"(qkv\": 4}")]
    [InlineData("alpha_pattern", "{\"fc)\": 4}")]
    public void BadRegularExpression_IsReportedAtReadTimeWithFileFieldAndPattern(string field, string json)
    {
        var folder = Field(field, json);
        var e = Assert.Throws<InvalidDataException>(() => AdapterFiles.ReadConfig(folder));
        Assert.Contains(AdapterFiles.ConfigFileName, e.Message);
        Assert.Contains(field, e.Message);
        FailsLeavingModelsUnchanged<InvalidDataException>(folder);
    }

    [Theory]
    [InlineData("lora_alpha", "1e400")]
    [InlineData("lora_alpha", "-1e400")]
    [InlineData("lora_alpha", "1e39")]
    [InlineData("alpha_pattern", "{\"qkv\": 1e308}")]
    [InlineData("alpha_pattern", "{\"fc\": -4e38}")]
    [InlineData("lora_dropout", "1.5")]
    [InlineData("lora_dropout", "-0.1")]
    [InlineData("rank_pattern", "{\"fc\": 0}")]
    [InlineData("rank_pattern", "{\"fc\": -3}")]
    [InlineData("r", "0")]
    public void OutOfRangeValue_IsRejectedAtReadTimeNamingFileAndField(string field, string json)
    {
        var folder = Field(field, json);
        var e = Assert.Throws<InvalidDataException>(() => AdapterFiles.ReadConfig(folder));
        Assert.Contains(AdapterFiles.ConfigFileName, e.Message);
        Assert.Contains(field, e.Message);
        FailsLeavingModelsUnchanged<InvalidDataException>(folder);
    }

    [Fact]
    public void AlphaFiniteInFloat32_IsAccepted()
    {
        var folder = Field("lora_alpha", "3e38");
        try { Assert.Equal(3e38, ((LoraConfig)AdapterFiles.ReadConfig(folder)).LoraAlpha); }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void RankPatternThatChangesAShape_IsRejectedFromTheHeaderNamingTheTensor()
    {
        var e = FailsLeavingModelsUnchanged<InvalidDataException>(Field("rank_pattern", "{\"fc\": 3}"));
        Assert.Contains("transformer.h.1.mlp.c_fc.lora_A.weight", e.Message);
    }

    [Fact]
    public void UnsupportedBias_IsNotSupportedWithAMessage()
    {
        // "none", "all" and "<method>_only" are PEFT's values (TrainedBiases); anything else is refused by name.
        var e = FailsLeavingModelsUnchanged<NotSupportedException>(Field("bias", "\"some\""));
        Assert.Contains("bias", e.Message);
    }

    [Fact]
    public void PissaFileWithABadShape_LeavesTheBaseWeightsBitIdentical()
    {
        var folder = TempFolder();
        Peft.Apply(TinyGpt(), new LoraConfig { R = 2, InitLoraWeights = LoraInit.Pissa, TargetModules = ["qkv", "fc"], Seed = 3 }).SavePretrained(folder);
        var path = Path.Combine(folder, AdapterFiles.WeightsFileName);
        var tensors = Safetensors.Load(path);
        tensors["base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight"] = Tensor.Zeros(32, 3);
        Safetensors.Save(path, tensors);
        var e = FailsLeavingModelsUnchanged<InvalidDataException>(folder);
        Assert.Contains("c_fc.lora_B.weight", e.Message);
    }
}
