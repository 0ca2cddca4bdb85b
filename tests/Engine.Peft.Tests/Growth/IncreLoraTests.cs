using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Engine.Peft.Growth;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Growth;

/// <summary>
/// IncreLoRA (spec adapters-lowrank.md section 1): the block form and its current-rank divisor, the module score, the
/// equivalence with AdaLoRA without growth, growth by the schedule within the budget in a Trainer run, new optimiser
/// groups that train, and an exact reload of a grown adapter.
/// </summary>
public class IncreLoraTests
{
    static IncreLoraConfig Config() => new()
    {
        R = 1, TargetRank = 4, InitWarmup = 2, IncreInterval = 2, TopH = 2, LoraAlpha = 6, TargetModules = ["qkv", "fc"], Seed = 3,
    };

    // x [n, in] -> base + c B (A * E) / (R + 1e-5) x, by loops over the concatenated blocks.
    static double[] Expected(IncreLoraLayer layer, string name, Tensor x, int n, double c, int ranknum)
    {
        int inF = layer.InFeatures, outF = layer.OutFeatures;
        var a = new List<double>();
        var e = new List<double>();
        var bCols = new List<double[]>();
        for (int k = 0; k < layer.Blocks(name); k++)
        {
            a.AddRange(layer.LoraA(name, k).ToDoubleArray());
            e.AddRange(layer.LoraE(name, k).ToDoubleArray());
            var b = layer.LoraB(name, k).ToDoubleArray();
            int r = layer.LoraB(name, k).Size(1);
            for (int j = 0; j < r; j++) bCols.Add(Enumerable.Range(0, outF).Select(o => b[o * r + j]).ToArray());
        }
        int total = e.Count;
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var merged = new double[outF * inF];
        for (int o = 0; o < outF; o++)
            for (int i = 0; i < inF; i++)
            {
                double s = 0;
                for (int k = 0; k < total; k++) s += bCols[k][o] * a[k * inF + i] * e[k];
                merged[o * inF + i] = w[o * inF + i] + c * s / (ranknum + 1e-5);
            }
        return NaiveMatMulT(x.ToDoubleArray(), n, merged, inF, outF).Select((v, i) => v + bias[i % outF]).ToArray();
    }

    [Fact]
    public void Layer_ForwardIsBasePlusCBAEOverCurrentRank_WithReservesIncluded_AndGradientsMatchFiniteDifferences()
    {
        // Block 0 of rank 2, two grown blocks, one reserve: ranknum 4, five rows in ΔW.
        var config = Config() with { R = 2, RankPattern = new Dictionary<string, int> { ["layer"] = 4 }, ReservePattern = new Dictionary<string, int> { ["layer"] = 1 } };
        var layer = StandaloneLayer(l => new IncreLoraLayer(l), 5, 4, config);
        Assert.Equal((4, 1, 4), (layer.Ranknum("a"), layer.Reserves("a"), layer.Blocks("a")));
        Assert.Equal([2, 5], layer.LoraA("a", 0).Shape);
        Assert.Equal([4, 1], layer.LoraB("a", 3).Shape);
        for (int k = 0; k < 3; k++) Scramble(layer.LoraE("a", k), (ulong)(10 + k));
        Assert.Equal(IncreLoraLayer.ReserveLambda, layer.LoraE("a", 3).Item(), 12);
        // The reserve's lambda is frozen; its a and b train (advance learning).
        Assert.False(layer.AdapterTensors("a").Single(t => t.Key == "lora_E.3").Trainable);
        Assert.True(layer.AdapterTensors("a").Single(t => t.Key == "lora_A.3").Trainable);
        var x = Randn64(4, 3, 5);
        AssertClose(Expected(layer, "a", x, 3, 6, 4), layer.Forward(x).ToDoubleArray(), 1e-12);
        layer.BaseLayer.RequiresGrad(false);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void WithoutGrowth_EqualsAdaLoraSvdLoraAtScaleCOverR0()
    {
        var incre = StandaloneLayer(l => new IncreLoraLayer(l), 6, 5, Config() with { R = 3 });
        var ada = StandaloneLayer(l => new AdaLoraLayer(l), 6, 5, new AdaLoraConfig { InitR = 3, TargetR = 3, LoraAlpha = 6, TotalStep = 10 });
        Scramble(incre.LoraE("a", 0), 5);
        using (Autograd.Autograd.NoGrad())
        {
            ada.LoraA("a").CopyFrom(incre.LoraA("a", 0));
            ada.LoraE("a").CopyFrom(incre.LoraE("a", 0));
            ada.LoraB("a").CopyFrom(incre.LoraB("a", 0));
        }
        Assert.Equal(6 / (3 + 1e-5), incre.Scale("a"), 12);
        var x = Randn64(8, 4, 6);
        AssertClose(ada.Forward(x).ToDoubleArray(), incre.Forward(x).ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void ForcedGrowth_RanknumIsR0PlusAddR_AndDeltaUsesTheNewDivisor()
    {
        var config = Config() with { R = 2 };
        var layer = StandaloneLayer(l => new IncreLoraLayer(l), 5, 4, config);
        Scramble(layer.LoraE("a", 0), 6);
        var x = Randn64(9, 3, 5);
        var before = layer.Forward(x).ToDoubleArray();
        Assert.Equal(4, layer.AddReserves("a", config, config.AddR).Count);   // a and b of two reserve blocks train
        var withReserves = layer.Forward(x).ToDoubleArray();
        Assert.NotEqual(before, withReserves);   // pitfall 9: reserves are part of ΔW (lambda 1e-5)
        var unfrozen = layer.Activate("a", config, config.AddR);
        Assert.Equal(2, unfrozen.Count);   // the two lambdas
        Assert.All(unfrozen, t => Assert.True(t.RequiresGrad));
        Assert.Equal(2 + config.AddR, layer.Ranknum("a"));
        Assert.Equal(0, layer.Reserves("a"));
        Assert.Equal(6 / (4 + 1e-5), layer.Scale("a"), 12);
        AssertClose(Expected(layer, "a", x, 3, 6, 4), layer.Forward(x).ToDoubleArray(), 1e-12);
        // The same weights under the old divisor give other outputs: the divisor really changed.
        Assert.True(Math.Abs(Expected(layer, "a", x, 3, 6, 2)[0] - layer.Forward(x).ToDoubleArray()[0]) > 1e-9);
    }

    [Fact]
    public void ModuleScore_IsSumOfAbsDeltaTimesGradientOverSqrtSize()
    {
        var layer = new IncreLoraLayer(new Linear(5, 4, true, new Generator(3)));
        layer.AddAdapter(AdapterContext.Standalone("a", Config()));
        layer.SetActive(["a"]);
        layer.To(DType.Float64);
        layer.Train();
        Scramble(layer.LoraE("a", 0), 7);
        // dL/dΔW is dL/dW0: the base weight sees the same gradient as the update added to it.
        layer.BaseLayer.Weight.RequiresGrad = true;
        var x = Randn64(2, 3, 5);
        (layer.Forward(x) * Randn64(3, 3, 4)).Sum().Backward();
        var delta = layer.DeltaWeight("a").Detach().ToDoubleArray();
        var g = layer.BaseLayer.Weight.Grad!.ToDoubleArray();
        double expected = delta.Select((d, i) => Math.Abs(d * g[i])).Sum() / Math.Sqrt(20);
        Assert.Equal(expected, layer.TakeScore("a")!.Value, 12);
        Assert.Null(layer.TakeScore("a"));

        var tracker = new ImportanceTracker(0.85, 0.85);
        tracker.Update("m", expected);
        double ibar = 0.15 * expected, u = 0.15 * Math.Abs(expected - ibar);
        Assert.Equal(ibar * u, tracker.ScalarScore("m"), 15);
    }

    sealed record StepRecord(int Step, Dictionary<string, int> Ranks, Dictionary<string, double> Scores, int Groups);

    static (PeftModel<Gpt> Peft, List<StepRecord> Records, AdamW Optimizer) Run(IncreLoraConfig config, int steps)
    {
        var peft = Peft.Apply(TinyGpt(), config);
        var part = (IncreLoraModelPart)peft.ModelPart("default")!;
        var optimizer = new AdamW(peft.TrainableParameters(), 2e-2, weightDecay: 0);
        var records = new List<StepRecord>();
        var layers = peft.AdapterLayers().Select(l => (Path: peft.PathOf(l.Path).External, Layer: (IncreLoraLayer)l.Layer)).ToList();
        var ids = Ids();
        new Trainer(peft, optimizer, new TrainerOptions(steps, Progress: p => records.Add(new(p.Completed - 1,
                layers.ToDictionary(l => l.Path, l => l.Layer.Ranknum("default")), layers.ToDictionary(l => l.Path, l => part.Score(l.Layer)), optimizer.Groups.Count))))
            .Run(_ => Losses.CrossEntropy(peft.Forward(ids).Reshape(-1, 13), ids.Roll(-1, 1).Reshape(-1)));
        return (peft, records, optimizer);
    }

    [Fact]
    public void TrainerRun_GrowsTheTopScoredModulesOnScheduleWithinTheBudget_AndNewGroupsTrain()
    {
        var config = Config();
        var (peft, records, optimizer) = Run(config, 12);
        int modules = records[0].Ranks.Count, budget = config.TargetRank * modules;
        Assert.Equal(4, modules);
        var previous = records[0].Ranks.ToDictionary(kv => kv.Key, _ => config.R);
        int growthSteps = 0;
        foreach (var r in records)
        {
            Assert.True(r.Ranks.Values.Sum() <= budget, $"step {r.Step}: total rank {r.Ranks.Values.Sum()} over the budget {budget}");
            var grown = r.Ranks.Where(kv => kv.Value != previous[kv.Key]).Select(kv => kv.Key).ToHashSet();
            bool scheduled = r.Step > config.InitWarmup && r.Step % config.IncreInterval == 0 && previous.Values.Sum() < budget;
            if (!scheduled) Assert.Empty(grown);
            else
            {
                growthSteps++;
                // The top_h modules by the smoothed score grow by add_r each (or what the budget leaves).
                int left = budget - previous.Values.Sum();
                int takers = Math.Min(Math.Min(config.TopH, left), (left + config.AddR - 1) / config.AddR);
                var top = r.Scores.OrderByDescending(kv => kv.Value).Take(takers).Select(kv => kv.Key).ToHashSet();
                Assert.Equal(top, grown);
                Assert.Equal(Math.Min(left, config.TopH * config.AddR), grown.Sum(m => r.Ranks[m] - previous[m]));
                Assert.All(grown, m => Assert.True(r.Ranks[m] - previous[m] <= config.AddR));
            }
            previous = r.Ranks;
        }
        // 4 modules from rank 1 to an average of 4: 12 ranks in growths of 2 x 2, at steps 4, 6, 8.
        Assert.Equal(3, growthSteps);
        Assert.Equal(budget, records[^1].Ranks.Values.Sum());
        var final = (IncreLoraConfig)peft.PeftConfigs["default"];
        Assert.Equal(records[^1].Ranks, final.RankPattern);

        // Step 0 added the reserves as a group, each growth one more; they all trained.
        Assert.Equal(1 + 1 + growthSteps, optimizer.Groups.Count);
        foreach (var (path, l) in peft.AdapterLayers())
        {
            var layer = (IncreLoraLayer)l;
            int active = 1 + layer.Ranknum("default") - config.R;
            for (int k = 1; k < active; k++)
                Assert.NotEqual(IncreLoraLayer.ReserveLambda, layer.LoraE("default", k).Item());   // activated lambda moved
            for (int k = active; k < layer.Blocks("default"); k++)
                Assert.Equal(0.0, layer.LoraE("default", k).Item());   // budget reached: reserves zeroed
        }
    }

    [Fact]
    public void GrownAdapter_SavesEveryBlockAndReloadsWithTheSameRanksAndOutputs()
    {
        var (peft, records, _) = Run(Config() with { IncreInterval = 3 }, 8);   // growths at steps 3 and 6, budget not reached
        peft.Eval();
        var x = Ids();
        var expected = peft.Forward(x).ToDoubleArray();
        var config = (IncreLoraConfig)peft.PeftConfigs["default"];
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var tensors = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            int blocks = config.RankPattern!.Sum(kv => 1 + kv.Value - 1 + config.ReservePattern![kv.Key]);
            Assert.Equal(3 * blocks, tensors.Count);
            Assert.Contains("base_model.model.transformer.h.0.attn.c_attn.lora_E.2", tensors.Keys);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, AdapterFiles.ConfigFileName)))!.AsObject();
            Assert.Equal("INCRELORA", (string?)json["peft_type"]);
            Assert.Equal(records[^1].Ranks.Values.Sum(), json["rank_pattern"]!.AsObject().Sum(kv => (int)kv.Value!));

            var loaded = Peft.FromPretrained(TinyGpt(), folder, trainable: true);
            AssertClose(expected, loaded.Forward(x).ToDoubleArray(), 1e-6);
            var a = peft.AdapterLayers().Select(l => (IncreLoraLayer)l.Layer).ToList();
            var b = loaded.AdapterLayers().Select(l => (IncreLoraLayer)l.Layer).ToList();
            for (int i = 0; i < a.Count; i++)
            {
                Assert.Equal((a[i].Ranknum("default"), a[i].Reserves("default")), (b[i].Ranknum("default"), b[i].Reserves("default")));
                // Which lambdas train is restored too: the reserves' stay frozen.
                Assert.Equal(a[i].AdapterTensors("default").Select(t => (t.Key, t.Tensor.RequiresGrad)), b[i].AdapterTensors("default").Select(t => (t.Key, t.Tensor.RequiresGrad)));
            }
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void ZooPreset_GrowsToTheBudgetWithinTheFirstThirdOfA300StepRun()
    {
        var config = IncreLoraConfig.Preset(AdapterPreset.ForTransformer(8, 300, 1));
        var (_, records, _) = Run(config, 100);
        int budget = config.TargetRank * records[0].Ranks.Count;
        Assert.Equal(budget, records[^1].Ranks.Values.Sum());
        Assert.Equal(config.R * records[0].Ranks.Count, records[config.InitWarmup].Ranks.Values.Sum());
    }

    [Fact]
    public void Config_RejectsBadSchedules()
    {
        Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), Config() with { TargetRank = 5 }));   // no add_r in the table
        Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), Config() with { IncreInterval = 0 }));
        Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), Config() with { R = 5 }));
    }
}
