using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Engine.Peft.Growth;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Growth;

/// <summary>
/// TriAdaptLoRA (spec adapters-lowrank.md section 2): the triangular core against a hand-built one, the forward, which
/// tensors a zero or eye start lets the task gradient reach, the K-selection schedule in a Trainer run within the
/// budget, new groups that train, and an exact reload of a grown adapter.
/// </summary>
public class TriAdaptLoraTests
{
    static TriAdaptLoraConfig Config() => new()
    {
        ReferenceRank = 4, InitRank = 1, TotalStep = 20, InitWarmup = 2, IncreInterval = 2, LoraAlpha = 6, TargetModules = ["qkv", "fc"], Seed = 3,
    };

    static TriAdaptLoraLayer Layer(TriAdaptLoraConfig config, int inF = 5, int outF = 4) =>
        StandaloneLayer(l => new TriAdaptLoraLayer(l), inF, outF, config);

    static TriAdaptLoraConfig WithBlocks(params int[] sizes) => Config() with { BlockPattern = new Dictionary<string, int[]> { ["layer"] = sizes } };

    [Theory]
    [InlineData(new[] { 1, 2 })]      // blocks (a, S) = (1, 1), (1, 2)
    [InlineData(new[] { 1, 3, 4 })]   // (1, 1), (2, 3), (1, 4)
    public void Core_IsTheLowerPartFromCRowPlusTheUpperPartFromCCol(int[] sizes)
    {
        var layer = Layer(WithBlocks(sizes));
        int r = sizes[^1];
        var c = new double[r, r];
        for (int i = 0; i < sizes.Length; i++)
        {
            int start = i == 0 ? 0 : sizes[i - 1], s = sizes[i];
            Scramble(layer.LoraCRow("a", i), (ulong)(20 + i));
            Scramble(layer.LoraCCol("a", i), (ulong)(40 + i));
            var row = layer.LoraCRow("a", i).ToDoubleArray();
            var col = layer.LoraCCol("a", i).ToDoubleArray();
            // C_row_i fills rows [start, s), columns [0, s); C_col_i columns [start, s), rows [0, s).
            for (int p = 0; p < s - start; p++)
                for (int q = 0; q < s; q++) c[start + p, q] += row[p * s + q];
            for (int q = 0; q < s; q++)
                for (int p = 0; p < s - start; p++) c[q, start + p] += col[q * (s - start) + p];
        }
        AssertClose(c.Cast<double>().ToArray(), layer.Core("a").ToDoubleArray(), 1e-15);
    }

    [Fact]
    public void Layer_ForwardIsBasePlusAlphaBCAOverCurrentRank_AndGradientsMatchFiniteDifferences()
    {
        var layer = Layer(WithBlocks(1, 3));
        foreach (var t in layer.AdapterTensors("a").Where(t => t.Trainable)) Scramble(t.Tensor, (ulong)t.Key.GetHashCode() & 0xffff, 0.3);
        Assert.Equal(3, layer.Rank("a"));
        var b = layer.AllB("a").ToDoubleArray();
        var c = layer.Core("a").ToDoubleArray();
        var a = layer.AllA("a").ToDoubleArray();
        var ca = NaiveProduct(c, a, 3, 3, 5);
        var delta = NaiveProduct(b, ca, 4, 3, 5);
        double scale = 6 / (3 + 1e-5);
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var x = Randn64(5, 3, 5);
        var expected = NaiveMatMulT(x.ToDoubleArray(), 3, w.Select((v, i) => v + scale * delta[i]).ToArray(), 5, 4).Select((v, i) => v + bias[i % 4]).ToArray();
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
        layer.BaseLayer.RequiresGrad(false);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    static Dictionary<string, Tensor?> Gradients(TriAdaptLoraConfig config)
    {
        var peft = Peft.Apply(TinyGpt(), config with { BlockPattern = new Dictionary<string, int[]> { ["transformer.h.0.attn.c_attn"] = [1, 3] } });
        var ids = Ids();
        var loss = Losses.CrossEntropy(peft.Forward(ids).Reshape(-1, 13), ids.Roll(-1, 1).Reshape(-1));
        if (peft.RegularizationLoss() is { } reg) loss = loss + reg;
        loss.Backward();
        return peft.NamedParameters().Where(p => p.Parameter.RequiresGrad).ToDictionary(p => p.Name, p => p.Parameter.Grad);
    }

    static bool IsZero(Tensor? g) => g is null || g.ToDoubleArray().All(v => v == 0);

    [Fact]
    public void ZeroInit_GivesNoTaskGradientAtAll_AndTheRegulariserMovesOnlyA0()
    {
        // Spec oracle: with the zero start and the regulariser off, every gradient except A_0's is exactly zero; in
        // fact A_0's too, since B = C = 0 stand between it and the loss.
        var off = Gradients(Config() with { InitWeights = "zero", OrthRegWeight = 0 });
        Assert.All(off, kv => Assert.True(IsZero(kv.Value), $"{kv.Key} has a gradient"));
        // With the regulariser on (weight 0.5), only A_0 moves: B = 0 and C = 0 are stationary points of
        // ||B^T B - I||_F and of the task loss, so the zero start never trains (why "eye" is the default).
        var on = Gradients(Config() with { InitWeights = "zero" });
        foreach (var (name, g) in on)
            if (name.EndsWith("lora_A_0.default", StringComparison.Ordinal)) Assert.False(IsZero(g), $"{name} has no gradient");
            else Assert.True(IsZero(g), $"{name} has a gradient");
    }

    [Fact]
    public void EyeInit_StartsAtTheBaseWithTheTaskGradientOnB()
    {
        var layer = Layer(WithBlocks(1, 3));
        Assert.Equal([1.0, 0, 0, 0, 1, 0], layer.LoraCRow("a", 1).ToDoubleArray());   // eye_ of [2, 3]
        Assert.All(layer.DeltaWeight("a").ToDoubleArray(), v => Assert.Equal(0.0, v));
        var grads = Gradients(Config() with { OrthRegWeight = 0 });
        foreach (var (name, g) in grads)
            if (name.Contains("lora_B_")) Assert.False(IsZero(g), $"{name} has no gradient");
            else Assert.True(IsZero(g), $"{name} has a gradient");   // A and C sit behind B = 0
    }

    sealed record StepRecord(int Step, Dictionary<string, int> Ranks, IReadOnlyDictionary<string, double> Scores, int Groups);

    static (PeftModel<Gpt> Peft, List<StepRecord> Records, AdamW Optimizer) Run(TriAdaptLoraConfig config, int steps)
    {
        var peft = Peft.Apply(TinyGpt(), config);
        var part = (TriAdaptLoraModelPart)peft.ModelPart("default")!;
        var optimizer = new AdamW(peft.TrainableParameters(), 2e-2, weightDecay: 0);
        var records = new List<StepRecord>();
        var layers = peft.AdapterLayers().Select(l => (Path: peft.PathOf(l.Path).External, Layer: (TriAdaptLoraLayer)l.Layer)).ToList();
        var ids = Ids();
        new Trainer(peft, optimizer, new TrainerOptions(steps, Progress: p => records.Add(new(p.Completed - 1,
                layers.ToDictionary(l => l.Path, l => l.Layer.Rank("default")), part.LastScores, optimizer.Groups.Count))))
            .Run(_ => Losses.CrossEntropy(peft.Forward(ids).Reshape(-1, 13), ids.Roll(-1, 1).Reshape(-1)));
        return (peft, records, optimizer);
    }

    [Theory]
    [InlineData("linear")]
    [InlineData("non-linear")]
    public void TrainerRun_GrowsTheScheduledNumberOfTopScoredModulesWithinTheBudget_AndNewBlocksTrain(string growth)
    {
        var config = Config() with { RankGrowthModel = growth };
        var (peft, records, optimizer) = Run(config, 14);
        int modules = records[0].Ranks.Count, budget = config.ReferenceRank * modules;
        var previous = records[0].Ranks.ToDictionary(kv => kv.Key, _ => config.InitRank);
        int growthSteps = 0;
        foreach (var r in records)
        {
            int total = previous.Values.Sum();
            Assert.True(r.Ranks.Values.Sum() <= budget, $"step {r.Step}: total rank {r.Ranks.Values.Sum()} over the budget {budget}");
            var grown = r.Ranks.Where(kv => kv.Value != previous[kv.Key]).Select(kv => kv.Key).ToHashSet();
            if (!(r.Step > config.InitWarmup && r.Step % config.IncreInterval == 0 && total < budget)) Assert.Empty(grown);
            else
            {
                growthSteps++;
                // K from the paper's schedule, computed here: rho = (t - t_w) / (T - t_w).
                double rho = (r.Step - 2.0) / (20 - 2.0);
                int k = growth == "linear" ? (int)((budget - total) * rho) : (int)Math.Exp(rho * Math.Log(budget - total));
                k = Math.Clamp(k, 1, modules);
                int left = budget - total, add = config.AddR;
                int takers = Math.Min(k, (left + add - 1) / add);
                var top = r.Scores.OrderByDescending(kv => kv.Value).Take(takers).Select(kv => kv.Key).ToHashSet();
                Assert.Equal(top, grown);
                Assert.Equal(Math.Min(left, takers * add), grown.Sum(m => r.Ranks[m] - previous[m]));
            }
            previous = r.Ranks;
        }
        Assert.True(growthSteps >= 2);
        Assert.Equal(budget, records[^1].Ranks.Values.Sum());
        Assert.Equal(1 + growthSteps, optimizer.Groups.Count);
        // Every grown block's B started at zero and trained (its group was registered).
        foreach (var (_, l) in peft.AdapterLayers())
        {
            var layer = (TriAdaptLoraLayer)l;
            for (int i = 1; i < layer.BlockSizes("default").Count; i++)
                Assert.False(IsZero(layer.LoraB("default", i)), $"block {i}'s B never trained");
        }
    }

    [Fact]
    public void GrownAdapter_SavesBlocksSizesAndNormsAndReloadsExactly()
    {
        var (peft, records, _) = Run(Config() with { IncreInterval = 3 }, 7);   // growths at 3 and 6
        peft.Eval();
        var x = Ids();
        var expected = peft.Forward(x).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var config = (TriAdaptLoraConfig)peft.PeftConfigs["default"];
            var tensors = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            Assert.Equal(4 * config.BlockPattern!.Values.Sum(s => s.Length), tensors.Count);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, AdapterFiles.ConfigFileName)))!.AsObject();
            Assert.Equal("TRIADAPTLORA", (string?)json["peft_type"]);
            Assert.NotNull(json["block_pattern"]);
            Assert.NotNull(json["norm_pattern"]);

            var loaded = Peft.FromPretrained(TinyGpt(), folder, trainable: true);
            AssertClose(expected, loaded.Forward(x).ToDoubleArray(), 1e-6);
            var a = peft.AdapterLayers().Select(l => (TriAdaptLoraLayer)l.Layer).ToList();
            var b = loaded.AdapterLayers().Select(l => (TriAdaptLoraLayer)l.Layer).ToList();
            for (int i = 0; i < a.Count; i++)
            {
                Assert.Equal(a[i].BlockSizes("default"), b[i].BlockSizes("default"));
                Assert.Equal(a[i].LastNorm("default"), b[i].LastNorm("default"), 12);
            }
            Assert.Equal(records[^1].Ranks.Values.Sum(), b.Sum(l => l.Rank("default")));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void ZooPreset_GrowsToTheBudgetWithinTheFirstThirdOfA300StepRun()
    {
        var config = TriAdaptLoraConfig.Preset(AdapterPreset.ForTransformer(8, 300, 1));
        var (_, records, _) = Run(config, 100);
        int modules = records[0].Ranks.Count;
        Assert.Equal(config.ReferenceRank * modules, records[^1].Ranks.Values.Sum());
        Assert.Equal(config.InitRank * modules, records[config.InitWarmup].Ranks.Values.Sum());
    }

    [Fact]
    public void Config_RejectsBadSettings()
    {
        Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), Config() with { TotalStep = null }));
        Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), Config() with { RankGrowthModel = "cubic" }));
        Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), Config() with { ReferenceRank = 5 }));
        Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), WithBlocks(2, 3)));
    }
}
