using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>Adapters written and read in Hugging Face PEFT's layout.</summary>
public class AdapterFilesTests
{
    public static TheoryData<LoraInit, bool> Variants => new()
    {
        { LoraInit.Random, false },
        { LoraInit.Random, true },
        { LoraInit.Pissa, false },
        { LoraInit.Olora, false },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void SaveThenLoad_OnAFreshBaseGivesIdenticalOutputs(LoraInit init, bool dora)
    {
        var config = new LoraConfig { R = 2, LoraAlpha = 4, TargetModules = ["qkv", "fc"], InitLoraWeights = init, UseDora = dora, Seed = 5, ModulesToSave = ["ln_f"] };
        var peft = Peft.Apply(TinyGpt(), config);
        // Move away from the initialisation, as training would.
        ulong seed = 100;
        foreach (var p in peft.TrainableParameters()) Scramble(p, seed++, 0.3);
        var x = Ids();
        var expected = peft.Forward(x).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            Assert.True(File.Exists(Path.Combine(folder, AdapterFiles.ConfigFileName)));
            var loaded = Peft.FromPretrained(TinyGpt(), folder);
            Assert.Equal(expected, loaded.Forward(x).ToDoubleArray());
            Assert.Empty(loaded.TrainableParameters());
            Assert.NotEmpty(Peft.FromPretrained(TinyGpt(), folder, trainable: true).TrainableParameters());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void SavePretrained_WritesExtraAdaptersInSubfoldersAndLoadAdapterAddsThem()
    {
        var peft = Peft.Apply(TinyGpt(), Lora(seed: 1, targets: "qkv"));
        peft.AddAdapter("other", Lora(r: 3, seed: 2, targets: "fc"));
        peft.SetAdapter("default", "other");
        var x = Ids();
        var expected = peft.Forward(x).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            Assert.True(File.Exists(Path.Combine(folder, "other", AdapterFiles.WeightsFileName)));
            var loaded = Peft.FromPretrained(TinyGpt(), folder);
            loaded.LoadAdapter(Path.Combine(folder, "other"), "other");
            loaded.SetAdapter("default", "other");
            Assert.Equal(expected, loaded.Forward(x).ToDoubleArray());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void Gpt2Adapter_UsesPeftKeyNamesShapesAndConfigFields()
    {
        var gpt = Gpt2Checkpoint.Load(Gpt2Folder);
        var peft = Peft.Apply(gpt, new LoraConfig
        {
            R = 4, LoraAlpha = 8, LoraDropout = 0.05, TargetModules = ["c_attn", "mlp.c_proj"], UseDora = true, UseRsLora = true,
            ModulesToSave = ["ln_f"], TaskType = "CAUSAL_LM", BaseModelNameOrPath = "gpt2-tiny",
        });
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var tensors = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            var expectedKeys = new List<string>();
            foreach (int i in new[] { 0, 1 })
                foreach (var module in new[] { "attn.c_attn", "mlp.c_proj" })
                    foreach (var leaf in new[] { "lora_A.weight", "lora_B.weight", "lora_magnitude_vector" })
                        expectedKeys.Add($"base_model.model.transformer.h.{i}.{module}.{leaf}");
            // modules_to_save: PEFT drops "modules_to_save.<adapter>" from the key.
            expectedKeys.AddRange(["base_model.model.transformer.ln_f.weight", "base_model.model.transformer.ln_f.bias"]);
            Assert.Equal(expectedKeys.Order(StringComparer.Ordinal), tensors.Keys.Order(StringComparer.Ordinal));
            // A [r, in], B [out, r] even though GPT-2 stores these layers [in, out] (Conv1D).
            Assert.Equal([4, 32], tensors["base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"].Shape);
            Assert.Equal([96, 4], tensors["base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"].Shape);
            Assert.Equal([4, 128], tensors["base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight"].Shape);
            Assert.Equal([32, 4], tensors["base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight"].Shape);
            Assert.Equal([96], tensors["base_model.model.transformer.h.0.attn.c_attn.lora_magnitude_vector"].Shape);

            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, AdapterFiles.ConfigFileName)))!.AsObject();
            Assert.Equal("LORA", (string?)json["peft_type"]);
            Assert.Equal(4, (int)json["r"]!);
            Assert.Equal(8.0, (double)json["lora_alpha"]!);
            Assert.Equal(0.05, (double)json["lora_dropout"]!);
            Assert.Equal(["c_attn", "mlp.c_proj"], json["target_modules"]!.AsArray().Select(n => (string)n!).ToArray());
            Assert.Equal("none", (string?)json["bias"]);
            Assert.True((bool)json["fan_in_fan_out"]!);
            Assert.True((bool)json["use_rslora"]!);
            Assert.True((bool)json["use_dora"]!);
            Assert.True((bool)json["init_lora_weights"]!);
            Assert.Equal(["ln_f"], json["modules_to_save"]!.AsArray().Select(n => (string)n!).ToArray());
            Assert.Empty(json["rank_pattern"]!.AsObject());
            Assert.Empty(json["alpha_pattern"]!.AsObject());
            Assert.Equal("CAUSAL_LM", (string?)json["task_type"]);
            Assert.Equal("gpt2-tiny", (string?)json["base_model_name_or_path"]);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void PeftWrittenLoraFile_LoadsAndAddsScaledProductToTheConv1DWeights()
    {
        // A file laid out as PEFT writes it for GPT2LMHeadModel, built here by hand.
        const int r = 2;
        var a = Randn(1, r, 32) * 0.2;
        var b = Randn(2, 96, r) * 0.2;
        var folder = TempFolder();
        try
        {
            File.WriteAllText(Path.Combine(folder, AdapterFiles.ConfigFileName), """
                {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "gpt2", "revision": null,
                 "inference_mode": true, "r": 2, "lora_alpha": 6, "lora_dropout": 0.1, "target_modules": ["c_attn"],
                 "layers_to_transform": [1], "layers_pattern": null, "exclude_modules": null, "bias": "none",
                 "fan_in_fan_out": true, "use_rslora": false, "use_dora": false, "init_lora_weights": true,
                 "modules_to_save": null, "rank_pattern": {}, "alpha_pattern": {}, "megatron_config": null, "peft_version": "0.17.0"}
                """);
            Safetensors.Save(Path.Combine(folder, AdapterFiles.WeightsFileName), new Dictionary<string, Tensor>
            {
                ["base_model.model.transformer.h.1.attn.c_attn.lora_A.weight"] = a,
                ["base_model.model.transformer.h.1.attn.c_attn.lora_B.weight"] = b,
            });
            var peft = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder);
            var ids = Tensor.FromArray(new long[,] { { 3, 14, 15, 9, 26 } });

            // Expected: the base model with W_qkv of layer 1 replaced by W + (6 / 2) B A, computed by loops.
            var reference = Gpt2Checkpoint.Load(Gpt2Folder);
            var w = reference.Blocks[1].Attn.Qkv.Weight;
            var ba = NaiveProduct(b.ToDoubleArray(), a.ToDoubleArray(), 96, r, 32);
            using (Autograd.Autograd.NoGrad())
                w.CopyFrom(Tensor.FromArray(w.ToDoubleArray().Select((v, i) => v + 3 * ba[i]).ToArray(), [96, 32]).To(DType.Float32));
            AssertClose(reference.Forward(ids), peft.Forward(ids), 1e-5);
            Assert.Single(peft.AdapterLayers());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void DoraMagnitude_LoadsAlsoUnderAKeyEndingInWeight()
    {
        var peft = Peft.Apply(TinyGpt(), Lora(targets: "qkv") with { UseDora = true });
        foreach (var (_, l) in peft.AdapterLayers()) Scramble(((LoraLayer)l).Magnitude("default")!, 5, 1);
        var x = Ids();
        var expected = peft.Forward(x).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var path = Path.Combine(folder, AdapterFiles.WeightsFileName);
            var renamed = Safetensors.Load(path).ToDictionary(kv => kv.Key.EndsWith("lora_magnitude_vector") ? kv.Key + ".weight" : kv.Key, kv => kv.Value);
            Assert.Equal(2, renamed.Keys.Count(k => k.EndsWith("lora_magnitude_vector.weight")));
            Safetensors.Save(path, renamed);
            Assert.Equal(expected, Peft.FromPretrained(TinyGpt(), folder).Forward(x).ToDoubleArray());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void Load_RejectsMissingOrUnexpectedKeys()
    {
        var folder = TempFolder();
        try
        {
            var peft = Peft.Apply(TinyGpt(), Lora(targets: "qkv"));
            peft.SavePretrained(folder);
            var path = Path.Combine(folder, AdapterFiles.WeightsFileName);
            var tensors = Safetensors.Load(path);
            tensors.Remove(tensors.Keys.First());
            tensors["base_model.model.transformer.h.9.attn.c_attn.lora_A.weight"] = Tensor.Zeros(2, 8);
            Safetensors.Save(path, tensors);
            var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(TinyGpt(), folder));
            Assert.Contains("h.9", e.Message);
            Assert.Contains("missing keys [base_model.model.transformer.h.0", e.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Theory]
    [InlineData(LoraInit.Pissa, false)]
    [InlineData(LoraInit.Olora, true)]
    public void PrincipalInitAdapter_ConvertsToAPlainRank2rLoraOnTheOriginalBase(LoraInit init, bool rs)
    {
        var peft = Peft.Apply(TinyGpt(), new LoraConfig { R = 2, LoraAlpha = 4, UseRsLora = rs, TargetModules = ["qkv"], InitLoraWeights = init });
        ulong seed = 40;
        foreach (var p in peft.TrainableParameters()) Scramble(p, seed++, 0.3);
        var x = Ids();
        var expected = peft.Forward(x).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder, convertToLora: true);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, AdapterFiles.ConfigFileName)))!.AsObject();
            Assert.Equal(4, (int)json["r"]!);
            Assert.True((bool)json["init_lora_weights"]!);
            var loaded = Peft.FromPretrained(TinyGpt(), folder);
            // The base of the loaded model is untouched: the original weights.
            foreach (var (path, layer) in loaded.AdapterLayers())
                Assert.Equal(TinyGpt().StateDict()[path + ".weight"].ToArray<float>(), layer.BaseLayer.Weight.ToArray<float>());
            AssertClose(expected, loaded.Forward(x).ToDoubleArray(), 1e-5);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
