using Engine.Peft.LowRank;
using Xunit;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// QA-LoRA's properties (Xu et al. 2023, section 3.3; PEFT's QALoraLinearVariant): the adapter sees the input
/// average-pooled in groups, so its update is constant within each input group (what lets it fold into group-wise
/// quantisation zero points), equal to the pooled forward, and A is [r, in / g].
/// </summary>
public class QaLoraTests
{
    const int InF = 12, OutF = 5, R = 2, G = 3;

    static LoraLayer Layer(LoraConfig config, int inF = InF)
    {
        var linear = new Linear(inF, OutF, bias: true, new Generator(3));
        linear.To(DType.Float64);
        var layer = new LoraLayer(linear);
        layer.AddAdapter(AdapterContext.Standalone("a", config, "layer"));
        layer.SetActive(["a"]);
        return layer;
    }

    static LoraConfig Config => new() { R = R, LoraAlpha = 3, UseQalora = true, QaloraGroupSize = G, InitLoraWeights = LoraInit.Random, Seed = 4 };

    [Fact]
    public void Update_IsConstantWithinEachInputGroup_AndIsThePooledForward()
    {
        var layer = Layer(Config);
        Assert.Equal([R, InF / G], layer.LoraA("a").Shape);
        var a = layer.LoraA("a").ToDoubleArray();
        var b = layer.LoraB("a").ToDoubleArray();
        var delta = layer.DeltaWeight("a").ToDoubleArray();
        const double s = 3.0 / R, factor = (double)(InF / G) / G;
        for (int o = 0; o < OutF; o++)
            for (int j = 0; j < InF; j++)
            {
                // ΔW[o, j] = s (in / g²) Σ_k B[o, k] A[k, j / g], from the factors.
                double expected = 0;
                for (int k = 0; k < R; k++) expected += s * factor * b[o * R + k] * a[k * (InF / G) + j / G];
                Assert.Equal(expected, delta[o * InF + j], 1e-12);
                // Bit-equal to the first column of its group: the update is one value per group and output.
                Assert.Equal(delta[o * InF + j / G * G], delta[o * InF + j]);
            }
        // Columns of different groups differ: the pooling does not collapse everything to one value.
        Assert.NotEqual(delta[0], delta[G]);

        // The adapter's output on x is x ΔWᵀ (the pooled forward agrees with the merged form).
        var x = Tensor.Randn([3, InF], 0, 1, DType.Float64, new Generator(8));
        var adapted = layer.Forward(x).ToDoubleArray();
        double[] baseOut;
        layer.Disabled = true;
        baseOut = layer.Forward(x).ToDoubleArray();
        layer.Disabled = false;
        var xs = x.ToDoubleArray();
        for (int t = 0; t < 3; t++)
            for (int o = 0; o < OutF; o++)
            {
                double sum = 0;
                for (int j = 0; j < InF; j++) sum += xs[t * InF + j] * delta[o * InF + j];
                Assert.Equal(sum, adapted[t * OutF + o] - baseOut[t * OutF + o], 1e-12);
            }
    }

    [Fact]
    public void GroupSizeThatDoesNotDivideTheInput_IsRefusedNamingIt()
    {
        var e = Assert.Throws<ArgumentException>(() => Layer(Config with { QaloraGroupSize = 5 }));
        Assert.Contains("qalora_group_size", e.Message);
        Assert.Throws<ArgumentException>(() => (Config with { QaloraGroupSize = 0 }).Validate());
        Assert.Throws<NotSupportedException>(() => (Config with { InitLoraWeights = LoraInit.Pissa }).Validate());
    }

    [Fact]
    public void PeftFileOfAFloatModel_WithAFullWidthA_LoadsAsThePlainLoraPeftComputed()
    {
        // PEFT applies QA-LoRA to GPTQ layers only: on a float model it saves use_qalora = true beside plain A [r, in].
        var plain = Laws.LawCases.NonTrivial(Laws.LawCases.Get("lora"));
        var folder = Laws.LawCases.TempFolder();
        try
        {
            plain.SavePretrained(folder);
            var configPath = Path.Combine(folder, "adapter_config.json");
            var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
            json["use_qalora"] = true;
            json["qalora_group_size"] = 4;
            File.WriteAllText(configPath, json.ToJsonString());
            var loaded = Peft.FromPretrained(Laws.LawCases.Base(), folder);
            Assert.True(((LoraConfig)loaded.PeftConfigs["default"]).UseQalora);
            Assert.Equal(Laws.LawCases.Outputs(plain), Laws.LawCases.Outputs(loaded));
            Assert.All(loaded.AdapterLayers(), l => Assert.Null(((LoraLayer)l.Layer).Settings("default").Variant));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
