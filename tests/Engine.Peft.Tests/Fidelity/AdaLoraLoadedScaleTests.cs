using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Fidelity;

/// <summary>
/// A loaded AdaLoRA adapter with a rank pattern: PEFT's <c>resize_modules_by_rank_pattern</c> rebuilds each layer at the
/// kept rank (so lora_alpha &lt;= 0 means scaling = kept rank) and copies back ranknum = init_r, so the factor is
/// c / (init_r + 1e-5) with c = lora_alpha, or the kept rank when alpha &lt;= 0.
/// </summary>
public class AdaLoraLoadedScaleTests
{
    static readonly bool[] Layer0 = [true, false, true, false];      // 2 kept
    static readonly bool[] Layer1 = [true, true, true, false];       // 3 kept

    static string WriteAdapter(double alpha)
    {
        var folder = TempFolder();
        var config = new JsonObject
        {
            ["peft_type"] = "ADALORA", ["init_r"] = 4, ["target_r"] = 2, ["lora_alpha"] = alpha, ["total_step"] = 10,
            ["target_modules"] = new JsonArray("c_attn"), ["fan_in_fan_out"] = true,
            ["rank_pattern"] = new JsonObject
            {
                ["transformer.h.0.attn.c_attn.lora_E"] = new JsonArray(Layer0.Select(b => (JsonNode)b).ToArray()),
                ["transformer.h.1.attn.c_attn.lora_E"] = new JsonArray(Layer1.Select(b => (JsonNode)b).ToArray()),
            },
        };
        File.WriteAllText(Path.Combine(folder, AdapterFiles.ConfigFileName), config.ToJsonString());
        var tensors = new Dictionary<string, Tensor>();
        ulong seed = 50;
        foreach (var (layer, kept) in new[] { (0, 2), (1, 3) })
        {
            string key = $"base_model.model.transformer.h.{layer}.attn.c_attn.";
            tensors[key + "lora_A"] = Randn(seed++, kept, 8);
            tensors[key + "lora_E"] = Randn(seed++, kept, 1);
            tensors[key + "lora_B"] = Randn(seed++, 24, kept);
        }
        Safetensors.Save(Path.Combine(folder, AdapterFiles.WeightsFileName), tensors);
        return folder;
    }

    [Theory]
    [InlineData(0.0, new[] { 2.0, 3.0 })]      // alpha <= 0: the kept rank
    [InlineData(-1.0, new[] { 2.0, 3.0 })]
    [InlineData(6.0, new[] { 6.0, 6.0 })]      // alpha > 0: alpha itself
    public void LoadedRankPattern_ScalesByNumeratorOverInitRankPlusEpsilon(double alpha, double[] numerators)
    {
        var folder = WriteAdapter(alpha);
        try
        {
            var peft = Peft.FromPretrained(TinyGpt(layers: 2), folder);
            var file = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            var layers = peft.AdapterLayers().Select(l => (Path: peft.PathOf(l.Path).External, Layer: (AdaLoraLayer)l.Layer)).ToList();
            Assert.Equal(2, layers.Count);
            var x = Randn(9, 3, 8);
            for (int l = 0; l < 2; l++)
            {
                var layer = layers[l].Layer;
                int kept = l == 0 ? 2 : 3;
                double factor = numerators[l] / (4 + 1e-5);
                Assert.Equal(factor, layer.Scale("default"), 12);
                Assert.Equal(kept, layer.LoraE("default").Size(0));

                // y = base(x) + factor * x (A * E)^T B^T, from the file's tensors by loops.
                string key = $"base_model.model.{layers[l].Path}.";
                var a = file[key + "lora_A"].ToDoubleArray();
                var e = file[key + "lora_E"].ToDoubleArray();
                var b = file[key + "lora_B"].ToDoubleArray();
                var ae = a.Select((v, i) => v * e[i / 8]).ToArray();
                var delta = NaiveProduct(b, ae, 24, kept, 8);
                var xs = x.ToDoubleArray();
                var update = NaiveMatMulT(xs, 3, delta, 8, 24);
                var baseOut = layer.BaseLayer.Forward(x).ToDoubleArray();
                AssertClose(baseOut.Select((v, i) => v + factor * update[i]).ToArray(), layer.Forward(x).ToDoubleArray(), 1e-5, $"layer {l}");
            }
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
