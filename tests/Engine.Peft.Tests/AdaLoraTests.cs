using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>AdaLoRA: the P Lambda Q layer, the budget schedule, importance-driven masking, regulariser and files.</summary>
public class AdaLoraTests
{
    static AdaLoraConfig Config(int total = 10) => new()
    {
        InitR = 4, TargetR = 2, Tinit = 2, Tfinal = 3, DeltaT = 2, TotalStep = total, LoraAlpha = 8, TargetModules = ["qkv", "fc"], Seed = 3,
    };

    [Fact]
    public void AdaLoraLayer_ForwardIsBasePlusScaledPLambdaQ_AndGradientsMatchFiniteDifferences()
    {
        var layer = new AdaLoraLayer(new Linear(5, 4, true, new Generator(2)));
        layer.AddAdapter(AdapterContext.Standalone("default", Config(), "l"));
        layer.SetActive(["default"]);
        layer.To(DType.Float64);
        layer.BaseLayer.RequiresGrad(false);
        Scramble(layer.LoraE("default"), 4, 1);
        var x = Randn64(6, 3, 5);

        // y = x W^T + b + x (Q * lambda)^T P^T * alpha / (ranknum + 1e-5), by loops.
        var q = layer.LoraA("default").ToDoubleArray();
        var e = layer.LoraE("default").ToDoubleArray();
        var p = layer.LoraB("default").ToDoubleArray();
        var qe = q.Select((v, i) => v * e[i / 5]).ToArray();
        var delta = NaiveProduct(p, qe, 4, 4, 5);
        double scale = 8 / (4 + 1e-5);
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var expected = NaiveMatMulT(x.ToDoubleArray(), 3, w.Select((v, i) => v + scale * delta[i]).ToArray(), 5, 4).Select((v, i) => v + bias[i % 4]).ToArray();
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);

        AssertInputGradients(xs => layer.Forward(xs[0]), x);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Theory]
    [InlineData(0, 24, false)]
    [InlineData(2, 24, false)]
    [InlineData(4, 13, true)]   // 8 + 16 (5/7)^3 = 13.83
    [InlineData(5, 10, false)]  // 8 + 16 (4/7)^3 = 10.99, odd step
    [InlineData(9, 8, false)]   // 8 + 16 (0)^3 at T - t_final, odd step: the allocator forces this mask itself
    [InlineData(10, 8, true)]
    public void BudgetSchedule_IsCubicBetweenWarmUpAndFinalPhase(int step, int budget, bool mask)
    {
        var schedule = new AdaLoraBudgetSchedule(24, 8, Tinit: 2, Tfinal: 3, TotalStep: 12, DeltaT: 2);
        Assert.Equal((budget, mask), schedule.At(step));
    }

    [Fact]
    public void OrthogonalityPenalty_IsWeightedMeanOfFrobeniusDeviations()
    {
        var peft = Peft.Apply(TinyGpt(layers: 1), Config() with { TargetModules = ["qkv"], OrthRegWeight = 0.5 });
        var layer = (AdaLoraLayer)peft.AdapterLayers().Single().Layer;
        double Deviation(double[] m, int rows, int cols, bool rowsGram)
        {
            double sum = 0;
            int n = rowsGram ? rows : cols;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    double g = 0;
                    for (int k = 0; k < (rowsGram ? cols : rows); k++)
                        g += rowsGram ? m[i * cols + k] * m[j * cols + k] : m[k * cols + i] * m[k * cols + j];
                    sum += Math.Pow(g - (i == j ? 1 : 0), 2);
                }
            return Math.Sqrt(sum);
        }
        double expected = 0.5 * (Deviation(layer.LoraA("default").ToDoubleArray(), 4, 8, true) + Deviation(layer.LoraB("default").ToDoubleArray(), 24, 4, false)) / 2;
        Assert.Equal(expected, AdaLoraOrthogonality.Penalty(peft).Item(), 4);
    }

    static PeftModel<Gpt> Train(AdaLoraConfig config, int steps, out List<int?> budgets)
    {
        var gpt = TinyGpt();
        gpt.Train();
        var peft = Peft.Apply(gpt, config);
        var allocator = (AdaLoraModelPart)peft.ModelPart("default")!;
        var opt = new AdamW(peft.TrainableParameters(), lr: 2e-2, weightDecay: 0);
        var ids = Ids();
        budgets = new List<int?>();
        for (int step = 0; step < steps; step++)
        {
            var loss = Losses.CrossEntropy(peft.Forward(ids).Reshape(-1, 13), ids.Roll(-1, 1).Reshape(-1)) + AdaLoraOrthogonality.Penalty(peft);
            loss.Backward();
            opt.Step();
            peft.OnStep(step);
            budgets.Add(allocator.LastBudget);
            opt.ZeroGrad();
        }
        return peft;
    }

    [Fact]
    public void Allocator_MasksTripletsToTheScheduledBudgetAndFixesTheRankPattern()
    {
        var config = Config();
        var peft = Train(config, 10, out var budgets);
        // Masking steps: 4 and 6 (even, inside the schedule), then 7 = T - t_final (forced), then every later step.
        var schedule = new AdaLoraBudgetSchedule(4 * 4, 2 * 4, 2, 3, 10, 2);
        Assert.Equal([null, null, null, null, schedule.At(4).Budget, schedule.At(4).Budget, schedule.At(6).Budget, 8, 8, 8], budgets);

        var pattern = ((AdaLoraConfig)peft.PeftConfigs["default"]).RankPattern!;
        Assert.Equal(4, pattern.Count);
        Assert.Contains("transformer.h.0.attn.c_attn.lora_E", pattern.Keys);
        Assert.Equal(8, pattern.Values.Sum(m => m.Count(k => k)));
        foreach (var (path, l) in peft.AdapterLayers())
        {
            var keep = pattern[peft.PathOf(path).External + ".lora_E"];
            var e = ((AdaLoraLayer)l).LoraE("default").ToDoubleArray();
            for (int i = 0; i < 4; i++)
                if (!keep[i]) Assert.Equal(0.0, e[i]);
                else Assert.NotEqual(0.0, e[i]);
        }
    }

    [Fact]
    public void AdaLoraAdapter_SavesKeptTripletsAndReloadsToTheSameOutputs()
    {
        var peft = Train(Config(), 9, out _);
        peft.Eval();
        var x = Ids();
        var expected = peft.Forward(x).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var tensors = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            var pattern = ((AdaLoraConfig)peft.PeftConfigs["default"]).RankPattern!;
            int kept = pattern["transformer.h.1.mlp.c_fc.lora_E"].Count(k => k);
            Assert.Equal([kept, 8], tensors["base_model.model.transformer.h.1.mlp.c_fc.lora_A"].Shape);
            Assert.Equal([kept, 1], tensors["base_model.model.transformer.h.1.mlp.c_fc.lora_E"].Shape);
            Assert.Equal([16, kept], tensors["base_model.model.transformer.h.1.mlp.c_fc.lora_B"].Shape);
            Assert.Equal(12, tensors.Count);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, AdapterFiles.ConfigFileName)))!.AsObject();
            Assert.Equal("ADALORA", (string?)json["peft_type"]);
            Assert.Equal((4, 2, 10), ((int)json["init_r"]!, (int)json["target_r"]!, (int)json["total_step"]!));
            Assert.Equal(pattern["transformer.h.0.attn.c_attn.lora_E"], json["rank_pattern"]!["transformer.h.0.attn.c_attn.lora_E"]!.AsArray().Select(b => (bool)b!).ToArray());

            var loaded = Peft.FromPretrained(TinyGpt(), folder);
            AssertClose(expected, loaded.Forward(x).ToDoubleArray(), 1e-6);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void AdaLoraTraining_LeavesBaseBitIdenticalAndMergesExactly()
    {
        var peft = Train(Config(), 6, out _);
        var fresh = TinyGpt().StateDict();
        foreach (var (name, p) in peft.Model.NamedParameters().Where(p => !p.Name.Contains("lora_")))
            Assert.Equal(fresh[name.Replace(".base_layer", "")].ToArray<float>(), p.ToArray<float>());
        Assert.All(peft.TrainableParameters(), p => Assert.Contains(peft.Model.NamedParameters(), n => n.Name.Contains(".lora_") && ReferenceEquals(n.Parameter, p)));

        peft.Eval();
        AssertMergeRoundTrips(peft, Ids());
    }

    [Fact]
    public void AdaLoraConfig_RejectsAScheduleWithoutSteps()
    {
        Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), Config() with { TotalStep = 0 }));
        Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), Config() with { Tinit = 8, Tfinal = 2 }));
    }
}
