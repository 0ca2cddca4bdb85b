using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>Adapters on a whole model: targeting, freezing, training, several adapters, merging, combination.</summary>
public class PeftModelTests
{
    static List<string> AdaptedPaths(PeftModel peft) => peft.AdapterLayers().Select(l => l.Path).OrderBy(p => p, StringComparer.Ordinal).ToList();

    [Fact]
    public void Targets_MatchExactNameSuffixAndRegex()
    {
        var bySuffix = Peft.Apply(TinyGpt(), new LoraConfig { TargetModules = ["qkv"] });
        Assert.Equal(["blocks.0.attn.qkv", "blocks.1.attn.qkv"], AdaptedPaths(bySuffix));

        // "proj" is a suffix of both attn.proj and mlp.proj; "attn.proj" only of the first.
        var byDottedSuffix = Peft.Apply(TinyGpt(), new LoraConfig { TargetModules = ["attn.proj"] });
        Assert.Equal(["blocks.0.attn.proj", "blocks.1.attn.proj"], AdaptedPaths(byDottedSuffix));

        var byExact = Peft.Apply(TinyGpt(), new LoraConfig { TargetModules = ["blocks.1.mlp.fc"] });
        Assert.Equal(["blocks.1.mlp.fc"], AdaptedPaths(byExact));

        // A regular expression must match the whole path (engine or Hugging Face name).
        var byRegex = Peft.Apply(TinyGpt(), new LoraConfig { TargetModules = ModuleSelector.Regex(@"transformer\.h\.\d+\.mlp\.c_(fc|proj)") });
        Assert.Equal(["blocks.0.mlp.fc", "blocks.0.mlp.proj", "blocks.1.mlp.fc", "blocks.1.mlp.proj"], AdaptedPaths(byRegex));
        Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), new LoraConfig { TargetModules = ModuleSelector.Regex("mlp") }));

        // Hugging Face names work as targets too.
        var byHfName = Peft.Apply(TinyGpt(), new LoraConfig { TargetModules = ["c_attn"] });
        Assert.Equal(["blocks.0.attn.qkv", "blocks.1.attn.qkv"], AdaptedPaths(byHfName));
    }

    [Fact]
    public void Targets_SkipExcludedModulesAndLayersOutsideLayersToTransform()
    {
        var layers = Peft.Apply(TinyGpt(layers: 3), new LoraConfig { TargetModules = ["qkv", "fc"], LayersToTransform = [0, 2] });
        Assert.Equal(["blocks.0.attn.qkv", "blocks.0.mlp.fc", "blocks.2.attn.qkv", "blocks.2.mlp.fc"], AdaptedPaths(layers));

        var excluded = Peft.Apply(TinyGpt(), new LoraConfig { TargetModules = ["qkv", "fc"], ExcludeModules = ["blocks.1.mlp.fc", "h.0.attn.c_attn"] });
        Assert.Equal(["blocks.0.mlp.fc", "blocks.1.attn.qkv"], AdaptedPaths(excluded));
    }

    [Fact]
    public void RankAndAlphaPatterns_OverrideDefaultsPerModule()
    {
        var peft = Peft.Apply(TinyGpt(), new LoraConfig
        {
            R = 2, LoraAlpha = 4, TargetModules = ["qkv"],
            RankPattern = new Dictionary<string, int> { [@"h\.1\.attn\.c_attn"] = 3 },
            AlphaPattern = new Dictionary<string, double> { ["blocks.0.attn.qkv"] = 1 },
        });
        var layers = peft.AdapterLayers().ToDictionary(l => l.Path, l => ((LoraLayer)l.Layer).Settings("default"));
        Assert.Equal((2, 0.5), (layers["blocks.0.attn.qkv"].R, layers["blocks.0.attn.qkv"].Scaling));
        Assert.Equal((3, 4.0 / 3), (layers["blocks.1.attn.qkv"].R, layers["blocks.1.attn.qkv"].Scaling));
    }

    [Fact]
    public void PrintTrainableParameters_CountsAdapterAndAllParameters()
    {
        var gpt = TinyGpt();
        long baseCount = gpt.ParameterCount();
        var peft = Peft.Apply(gpt, new LoraConfig { R = 2, TargetModules = ["qkv"] });
        var writer = new StringWriter();
        var count = peft.PrintTrainableParameters(writer);
        // Per layer r (in + out) = 2 (8 + 24), two layers.
        Assert.Equal(2 * 2 * (8 + 24), count.Trainable);
        Assert.Equal(baseCount + count.Trainable, count.Total);
        Assert.Equal(100.0 * 128 / (baseCount + 128), count.Percent, 10);
        Assert.Equal($"trainable params: 128 || all params: {baseCount + 128:N0} || trainable%: {count.Percent:F4}", writer.ToString().TrimEnd());
    }

    [Fact]
    public void Training_UpdatesOnlyAdapterTensorsAndBaseStaysBitIdentical()
    {
        var gpt = TinyGpt();
        gpt.Train();
        var baseBefore = gpt.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());
        var peft = Peft.Apply(gpt, new LoraConfig { R = 2, TargetModules = ["qkv", "fc"], LoraDropout = 0.1, Seed = 3 });
        var adapterTensors = peft.AdapterLayers().SelectMany(l => l.Layer.AdapterTensors("default").Select(t => t.Tensor)).ToList();
        Assert.Equal(adapterTensors.Count, peft.TrainableParameters().Count());
        Assert.All(peft.TrainableParameters(), p => Assert.Contains(p, adapterTensors));
        var adapterBefore = adapterTensors.Select(t => t.ToArray<float>()).ToList();

        var opt = new AdamW(peft.TrainableParameters(), lr: 1e-2);
        var ids = Ids();
        for (int step = 0; step < 3; step++)
        {
            var logits = peft.Model.Forward(ids);
            var loss = Losses.CrossEntropy(logits.Reshape(-1, 13), ids.Roll(-1, 1).Reshape(-1));
            loss.Backward();
            foreach (var (_, p) in gpt.NamedParameters())
                if (!adapterTensors.Contains(p)) Assert.Null(p.Grad);
            opt.Step();
            opt.ZeroGrad();
        }
        // The wrapped layers keep their weights under base_layer.
        foreach (var (name, p) in gpt.NamedParameters().Where(p => !adapterTensors.Contains(p.Parameter)))
            Assert.Equal(baseBefore[name.Replace(".base_layer", "")], p.ToArray<float>());
        for (int i = 0; i < adapterTensors.Count; i++)
            Assert.NotEqual(adapterBefore[i], adapterTensors[i].ToArray<float>());
    }

    [Fact]
    public void SeveralActiveAdapters_AddTheirContributions()
    {
        var x = Ids();
        var baseLogits = TinyGpt().Forward(x);
        var peft = Peft.Apply(TinyGpt(), Lora(seed: 1), "a");
        peft.AddAdapter("b", Lora(r: 3, seed: 2));
        Assert.Equal(["a"], peft.ActiveAdapters);
        var onlyA = peft.Forward(x);
        peft.SetAdapter("b");
        var onlyB = peft.Forward(x);
        peft.SetAdapter("a", "b");
        var both = peft.Forward(x);
        // Single layer: exact additivity. Whole model: check on one adapted Linear, and the model changes with both.
        var layer = (LoraLayer)peft.AdapterLayers().First().Layer;
        var h = Randn(4, 3, 8);
        var baseOut = layer.BaseLayer.Forward(h);
        layer.SetActive(["a"]);
        var ya = layer.Forward(h);
        layer.SetActive(["b"]);
        var yb = layer.Forward(h);
        layer.SetActive(["a", "b"]);
        AssertClose(ya + yb - baseOut, layer.Forward(h), 1e-5);
        Assert.NotEqual(onlyA.ToDoubleArray(), both.ToDoubleArray());
        Assert.NotEqual(onlyB.ToDoubleArray(), both.ToDoubleArray());
        Assert.NotEqual(baseLogits.ToDoubleArray(), both.ToDoubleArray());
        // Only the active adapters train.
        Assert.All(layer.AdapterTensors("a").Concat(layer.AdapterTensors("b")), t => Assert.True(t.Tensor.RequiresGrad));
        peft.SetAdapter("b");
        Assert.All(layer.AdapterTensors("a"), t => Assert.False(t.Tensor.RequiresGrad));
    }

    [Fact]
    public void DisableScope_GivesTheBaseOutputAndRestoresAdapters()
    {
        var x = Ids();
        var baseLogits = TinyGpt().Forward(x).ToDoubleArray();
        var peft = Peft.Apply(TinyGpt(), Lora());
        var adapted = peft.Forward(x).ToDoubleArray();
        Assert.NotEqual(baseLogits, adapted);
        using (peft.DisableAdapters())
            AssertClose(baseLogits, peft.Forward(x).ToDoubleArray(), 0);
        AssertClose(adapted, peft.Forward(x).ToDoubleArray(), 0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MergeUnmerge_RoundTripsBaseWeightsAndMergedOutputsMatch(bool dora)
    {
        var peft = Peft.Apply(TinyGpt(), Lora(seed: 4) with { UseDora = dora }, "a");
        peft.AddAdapter("b", Lora(r: 3, seed: 5) with { UseDora = dora });
        // Two DoRA adapters normalise the same W0 separately at runtime but one after the other when merged (as in
        // PEFT), so only plain LoRA adapters are merged together.
        string[] active = dora ? ["a"] : ["a", "b"];
        peft.SetAdapter(active);
        foreach (var (_, l) in peft.AdapterLayers())
            if (l is LoraLayer lora && dora) Scramble(lora.Magnitude("a")!, 3, 1);
        var x = Ids();
        var unmerged = peft.Forward(x).ToDoubleArray();
        var weights = peft.AdapterLayers().Select(l => l.Layer.BaseLayer.Weight.ToDoubleArray()).ToList();

        peft.Merge();
        Assert.All(peft.AdapterLayers(), l => Assert.Equal(active, l.Layer.MergedAdapters));
        var merged = peft.AdapterLayers().Select(l => l.Layer.BaseLayer.Weight.ToDoubleArray()).ToList();
        Assert.NotEqual(weights[0], merged[0]);
        AssertClose(unmerged, peft.Forward(x).ToDoubleArray(), 1e-5, "merged output");

        peft.Unmerge();
        var restored = peft.AdapterLayers().Select(l => l.Layer.BaseLayer.Weight.ToDoubleArray()).ToList();
        for (int i = 0; i < weights.Count; i++)
            for (int j = 0; j < weights[i].Length; j++)
                Assert.True(Math.Abs(weights[i][j] - restored[i][j]) <= 1e-6, $"layer {i} weight {j}: {weights[i][j]} vs {restored[i][j]}");
        AssertClose(unmerged, peft.Forward(x).ToDoubleArray(), 1e-5, "unmerged output");
    }

    [Fact]
    public void MergedWeight_IsBasePlusScaledProduct()
    {
        var peft = Peft.Apply(TinyGpt(), Lora(r: 2, alpha: 3, seed: 8, "blocks.0.attn.qkv"));
        var layer = (LoraLayer)peft.AdapterLayers().Single().Layer;
        var w0 = layer.BaseLayer.Weight.ToDoubleArray();
        var ba = NaiveProduct(layer.LoraB("default").ToDoubleArray(), layer.LoraA("default").ToDoubleArray(), 24, 2, 8);
        peft.Merge();
        AssertClose(w0.Select((v, i) => v + 1.5 * ba[i]).ToArray(), layer.BaseLayer.Weight.ToDoubleArray(), 1e-6);
    }

    [Fact]
    public void MergeAndUnload_GivesAPlainModelWithTheSameOutputs()
    {
        var peft = Peft.Apply(TinyGpt(), Lora(seed: 9) with { UseDora = false });
        var x = Ids();
        var adapted = peft.Forward(x).ToDoubleArray();
        var plain = peft.MergeAndUnload();
        Assert.DoesNotContain(plain.NamedModules(), m => m.Module is AdapterLayer);
        Assert.DoesNotContain(plain.StateDict().Keys, k => k.Contains("lora") || k.Contains("base_layer"));
        Assert.Equal(TinyGpt().StateDict().Keys.Order(), plain.StateDict().Keys.Order());
        AssertClose(adapted, plain.Forward(x).ToDoubleArray(), 1e-5);
        Assert.Throws<InvalidOperationException>(() => peft.Merge());
    }

    [Fact]
    public void Unload_UnmergesAndGivesBackTheBaseModel()
    {
        var x = Ids();
        var baseLogits = TinyGpt().Forward(x).ToDoubleArray();
        var peft = Peft.Apply(TinyGpt(), Lora(seed: 3));
        peft.Merge();
        var plain = peft.Unload();
        Assert.DoesNotContain(plain.NamedModules(), m => m.Module is AdapterLayer);
        AssertClose(baseLogits, plain.Forward(x).ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void DeleteAdapter_RemovesItsTensorsAndRestoresPlainLayers()
    {
        var x = Ids();
        var baseLogits = TinyGpt().Forward(x).ToDoubleArray();
        var peft = Peft.Apply(TinyGpt(), Lora(seed: 1, targets: "qkv"), "a");
        peft.AddAdapter("b", Lora(seed: 2, targets: "fc"));
        peft.SetAdapter("a", "b");
        peft.DeleteAdapter("a");
        Assert.Equal(["b"], peft.AdapterNames);
        Assert.Equal(["b"], peft.ActiveAdapters);
        Assert.DoesNotContain(peft.StateDict().Keys, k => k.Contains(".a.") || k.Contains("qkv.base_layer"));
        Assert.Equal(["blocks.0.mlp.fc", "blocks.1.mlp.fc"], AdaptedPaths(peft));
        peft.DeleteAdapter("b");
        Assert.Empty(peft.AdapterLayers());
        AssertClose(baseLogits, peft.Forward(x).ToDoubleArray(), 0);
    }

    [Fact]
    public void WeightedCombination_ConcatenatesFactorsSoDeltasAddWithWeights()
    {
        var peft = Peft.Apply(TinyGpt(), Lora(r: 2, alpha: 4, seed: 1, "qkv"), "a");
        peft.AddAdapter("b", Lora(r: 3, alpha: 3, seed: 2, "qkv") with { UseRsLora = true });
        peft.AddWeightedAdapter(["a", "b"], [0.7, -0.2], "mix");
        foreach (var (_, l) in peft.AdapterLayers())
        {
            var layer = (LoraLayer)l;
            Assert.Equal(5, layer.Settings("mix").R);
            var expected = (layer.DeltaWeight("a") * 0.7 + layer.DeltaWeight("b") * -0.2).ToDoubleArray();
            AssertClose(expected, layer.DeltaWeight("mix").ToDoubleArray(), 1e-5);
        }
        var config = (LoraConfig)peft.PeftConfigs["mix"];
        Assert.Equal((5, 5.0), (config.R, config.LoraAlpha));
    }

    [Fact]
    public void PeftSvdCombination_WeightsEachScaledDeltaByWeightTimesScaleAndPutsSIntoB()
    {
        var peft = Peft.Apply(TinyGpt(), Lora(r: 2, alpha: 4, seed: 1, "qkv"), "a");
        peft.AddAdapter("b", Lora(r: 3, alpha: 6, seed: 2, "qkv"));
        peft.AddWeightedAdapter(["a", "b"], [0.5, 1.5], "full", LoraCombinationType.Svd, svdRank: 5);
        foreach (var (_, l) in peft.AdapterLayers())
        {
            var layer = (LoraLayer)l;
            // PEFT's numbers: sum_i (w_i s_i) (s_i B_i A_i), with s_a = 2 and s_b = 2.
            var sum = layer.DeltaWeight("a") * (0.5 * 2) + layer.DeltaWeight("b") * (1.5 * 2);
            AssertClose(sum.ToDoubleArray(), layer.DeltaWeight("full").ToDoubleArray(), 1e-5);
            // A' = V_k^T has orthonormal rows (the singular values sit in B').
            var a = layer.LoraA("full").To(DType.Float64);
            AssertClose(Tensor.Eye(5, dtype: DType.Float64).ToDoubleArray(), (a % a.T).ToDoubleArray(), 1e-5);
        }
    }

    [Fact]
    public void SvdCombination_IsTheBestLowRankApproximationOfTheWeightedSum()
    {
        var peft = Peft.Apply(TinyGpt(), Lora(r: 2, alpha: 4, seed: 1, "qkv"), "a");
        peft.AddAdapter("b", Lora(r: 3, alpha: 3, seed: 2, "qkv"));
        // Rank 5 holds the whole sum (rank <= 2 + 3): exact.
        peft.AddWeightedAdapter(["a", "b"], [0.5, 1.5], "full", LoraCombinationType.SvdOfWeightedUpdates, svdRank: 5);
        // Default rank: the largest, 3; the error is the sum's singular values beyond the third (Eckart-Young).
        peft.AddWeightedAdapter(["a", "b"], [0.5, 1.5], "top", LoraCombinationType.SvdOfWeightedUpdates);
        foreach (var (_, l) in peft.AdapterLayers())
        {
            var layer = (LoraLayer)l;
            var sum = layer.DeltaWeight("a") * 0.5 + layer.DeltaWeight("b") * 1.5;
            AssertClose(sum.ToDoubleArray(), layer.DeltaWeight("full").ToDoubleArray(), 1e-5);
            Assert.Equal(3, layer.Settings("top").R);
            var (_, s, _) = Linalg.Svd(sum.To(DType.Float64));
            var tail = s.ToDoubleArray().Skip(3).Sum(v => v * v);
            var error = (sum - layer.DeltaWeight("top")).To(DType.Float64).Square().Sum().Item();
            Assert.Equal(tail, error, 4);
        }
    }

    [Fact]
    public void LoraPlus_PutsBAndEveryVectorInAGroupWithRatioTimesTheLearningRate()
    {
        var peft = Peft.Apply(TinyGpt(), new LoraConfig { TargetModules = ["qkv"], UseDora = true });
        var groups = LoraPlus.ParamGroups(peft, lr: 1e-3, ratio: 16);
        var layers = peft.AdapterLayers().Select(l => (LoraLayer)l.Layer).ToList();
        var fast = layers.SelectMany(l => new[] { l.LoraB("default"), l.Magnitude("default")! }).ToList();
        var group = groups.Single(g => g.Name == "lora_B");
        Assert.Equal(16e-3, group.Lr, 15);
        // PEFT's create_loraplus_optimizer: lora_B and every 1-D parameter (here the DoRA magnitudes).
        Assert.Equal(fast.Count, group.Parameters.Count);
        Assert.All(fast, b => Assert.Contains(b, group.Parameters));
        var rest = groups.Single(g => g.Name == "default");
        Assert.Equal(1e-3, rest.Lr);
        Assert.Equal(layers.Select(l => l.LoraA("default")), rest.Parameters);
        Assert.NotNull(new AdamW(groups));
    }

    sealed class RecordingHook : IStepHook
    {
        public List<(int Step, bool SawGradient)> Calls { get; } = new();
        public void OnStep(int step, PeftModel model) => Calls.Add((step, model.TrainableParameters().All(p => p.Grad is not null)));
    }

    [Fact]
    public void StepHooks_SeeTheStepAndTheGradients()
    {
        var peft = Peft.Apply(TinyGpt(), Lora(targets: "qkv"));
        var hook = new RecordingHook();
        peft.AddStepHook(hook);
        for (int step = 0; step < 2; step++)
        {
            peft.Forward(Ids()).Square().Mean().Backward();
            peft.OnStep(step);
            peft.ZeroGrad();
        }
        Assert.Equal([(0, true), (1, true)], hook.Calls);
    }

    [Fact]
    public void ModulesToSave_TrainACopyPerAdapter_AndTheOriginalStaysFrozen()
    {
        var peft = Peft.Apply(TinyGpt(), new LoraConfig { TargetModules = ["qkv"], ModulesToSave = ["ln_f"] });
        var wrapper = (ModulesToSaveLayer)peft.AdapterLayers().Single(l => l.Path == "ln_f").Layer;
        Assert.All(wrapper.Copy("default").Parameters(), p => Assert.True(p.RequiresGrad));
        // The typed accessor reaches the original (PEFT's original_module), which stays frozen.
        Assert.All(((Gpt)peft.Model).LnF.Parameters(), p => Assert.False(p.RequiresGrad));
        Assert.Same(((Gpt)peft.Model).LnF, wrapper.BaseModule);
        Assert.False(((Gpt)peft.Model).Tok.Weight.RequiresGrad);
    }
}
