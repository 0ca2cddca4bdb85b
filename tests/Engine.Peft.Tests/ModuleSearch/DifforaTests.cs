using Engine.Peft.LowRank;
using Engine.Peft.ModuleSearch;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.ModuleSearch;

/// <summary>
/// DiffoRA (the engine's reading of arXiv 2502.08905): the gated search forward, the discretisation that keeps the top-ρ
/// modules by σ(g) (explicit and as a step hook), and the spec's oracle that afterwards the model equals plain LoRA on
/// the kept modules with the same tensors (the kept gate folded into B); saved files reload exactly.
/// </summary>
public class DifforaTests
{
    static readonly string[] Targets = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"];

    static DifforaConfig Config(int? searchSteps = null, double keep = 0.5) => new()
    {
        R = 2, LoraAlpha = 6, InitLoraWeights = false, KeepRatio = keep, SearchSteps = searchSteps, TargetModules = ModuleSelector.Create(Targets), Seed = 3,
    };

    static PeftModel<Gpt> WithGates(DifforaConfig config)
    {
        var peft = Peft.Apply(TinyGpt(), config);
        // Distinct gates, so the ranking is known: module k (in model order) gets logit sin(3k).
        var layers = peft.AdapterLayers().Select(l => (DifforaLayer)l.Layer).ToList();
        using (Autograd.Autograd.NoGrad())
            for (int k = 0; k < layers.Count; k++) layers[k].Gate("default").Fill(Math.Sin(3 * k));
        return peft;
    }

    // Kept modules are named as in the files (Hugging Face's GPT-2 names); the layers by the engine's.
    static AdapterLayer LayerAt(PeftModel peft, string external) => peft.AdapterLayers().Single(l => peft.PathOf(l.Path).External == external).Layer;

    static DifforaModelPart Part(PeftModel peft) => (DifforaModelPart)peft.ModelPart("default")!;

    [Fact]
    public void SearchForward_IsTheBasePlusTheGatedLora_AndTheGateGetsAGradient()
    {
        const int inF = 6, outF = 5, r = 3;
        var layer = StandaloneLayer(l => new DifforaLayer(l), inF, outF, new DifforaConfig { R = r, LoraAlpha = 4.5, InitLoraWeights = false, GateInit = 0.4 });
        double logit = layer.Gate("a").Item();
        Assert.Equal(0.4, logit, 6);
        double gate = 1 / (1 + Math.Exp(-logit));
        var delta = NaiveProduct(layer.LoraB("a").ToDoubleArray(), layer.LoraA("a").ToDoubleArray(), outF, r, inF).Select(v => v * 4.5 / r * gate).ToArray();
        AssertClose(delta, layer.DeltaWeight("a").ToDoubleArray(), 1e-12);
        var x = Randn64(4, 3, inF);
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var expected = NaiveMatMulT(x.ToDoubleArray(), 3, w.Select((v, i) => v + delta[i]).ToArray(), inF, outF).Select((v, i) => v + bias[i % outF]).ToArray();
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
        Assert.Equal(gate, layer.GateValue("a"), 12);
    }

    [Fact]
    public void Discretise_KeepsTheTopHalfByGate_AndTheModelIsThenPlainLoraOnTheKeptModules()
    {
        var peft = WithGates(Config());
        var ids = Ids();
        var gates = Part(peft).Gates(peft);
        Assert.Equal(8, gates.Count);
        var expectedKept = gates.Select((g, k) => (g, k)).OrderByDescending(x => x.g.Gate).Take(4).Select(x => x.g.Path).Order().ToList();
        // The kept modules' own outputs do not move at the discretisation (σ(g) folded into B).
        var keptLayer = (DifforaLayer)LayerAt(peft, expectedKept[0]);
        var x = Randn(9, 2, 5, keptLayer.InFeatures);
        var before = keptLayer.Forward(x).ToDoubleArray();

        var kept = Part(peft).Discretise(peft);
        Assert.Equal(expectedKept, kept.Order().ToList());
        Assert.Equal(kept, ((DifforaConfig)peft.PeftConfigs["default"]).KeptModules);
        AssertClose(before, keptLayer.Forward(x).ToDoubleArray(), 1e-6);
        foreach (var (path, layer) in peft.AdapterLayers())
        {
            var keys = layer.AdapterTensors("default").Select(t => t.Key).Order().ToList();
            Assert.Equal(kept.Contains(peft.PathOf(path).External) ? ["lora_A.weight", "lora_B.weight"] : [], keys);
        }

        // The oracle: a LoRA adapter on the kept modules only, with the same A and B, gives the same logits.
        var lora = Peft.Apply(TinyGpt(), new LoraConfig { R = 2, LoraAlpha = 6, TargetModules = ModuleSelector.Create(kept.ToArray()) });
        Assert.Equal(kept.Order(), lora.AdapterLayers().Select(l => lora.PathOf(l.Path).External).Order());
        foreach (var (path, layer) in lora.AdapterLayers())
        {
            var source = (DifforaLayer)LayerAt(peft, lora.PathOf(path).External);
            ((LoraLayer)layer).SetFactors("default", source.LoraA("default"), source.LoraB("default"));
        }
        AssertClose(lora.Forward(ids).ToDoubleArray(), peft.Forward(ids).ToDoubleArray(), 1e-6);
        Assert.Equal(lora.PrintTrainableParameters(TextWriter.Null).Trainable, peft.PrintTrainableParameters(TextWriter.Null).Trainable);
        AssertMergeRoundTrips(peft, ids);
        Assert.Throws<InvalidOperationException>(() => Part(peft).Discretise(peft));
    }

    [Fact]
    public void StepHook_DiscretisesAfterSearchSteps_ThenOnlyTheKeptLoraTrains()
    {
        var peft = WithGates(Config(searchSteps: 3, keep: 0.25));
        var ids = Ids();
        var optimizer = new AdamW(peft.NamedAdapterTensors("default").Where(t => t.Trainable).Select(t => t.Tensor).ToList(), lr: 1e-2);
        for (int step = 0; step < 5; step++)
        {
            var loss = PeftGoldenCheck.NextTokenLoss(peft.Forward(ids), ids);
            loss.Backward();
            optimizer.Step();
            peft.OnStep(step);
            var kept = ((DifforaConfig)peft.PeftConfigs["default"]).KeptModules;
            if (step < 2) Assert.Null(kept);
            else Assert.Equal(2, kept!.Count);
            optimizer.ZeroGrad();
        }
        // After it, gradients reach the kept factors only, and nothing of the dropped modules is left on the model.
        var loss2 = PeftGoldenCheck.NextTokenLoss(peft.Forward(ids), ids);
        loss2.Backward();
        var trained = peft.NamedAdapterTensors("default").ToList();
        Assert.Equal(4, trained.Count);
        Assert.All(trained, t => Assert.True(t.Trainable && t.Tensor.Grad is not null));
        Assert.DoesNotContain(trained, t => t.Key.Contains(DifforaLayer.GateKey));
    }

    [Fact]
    public void SaveAndLoad_BeforeAndAfterDiscretisation_GiveTheSameModel()
    {
        var peft = WithGates(Config());
        var ids = Ids();
        foreach (bool discretise in new[] { false, true })
        {
            if (discretise) Part(peft).Discretise(peft);
            var folder = TempFolder();
            try
            {
                peft.SavePretrained(folder);
                var loaded = Peft.FromPretrained(TinyGpt(), folder, trainable: true);
                Assert.Equal(((DifforaConfig)peft.PeftConfigs["default"]).KeptModules, ((DifforaConfig)loaded.PeftConfigs["default"]).KeptModules);
                AssertClose(peft.Forward(ids).ToDoubleArray(), loaded.Forward(ids).ToDoubleArray(), 0);
                Assert.Equal(discretise ? 8 : 24, loaded.NamedAdapterTensors("default").Count());
                Assert.Equal(peft.PrintTrainableParameters(TextWriter.Null).Trainable, loaded.PrintTrainableParameters(TextWriter.Null).Trainable);
            }
            finally { Directory.Delete(folder, recursive: true); }
        }
    }

    [Fact]
    public void MergeDuringTheSearch_UsesTheCurrentGate_AndIsExact()
    {
        var peft = WithGates(Config());
        AssertMergeRoundTrips(peft, Ids());
        peft.Merge();
        Assert.Throws<InvalidOperationException>(() => Part(peft).Discretise(peft));
    }

    [Fact]
    public void KeptCount_IsTheCeilingOfRhoM_AtLeastOne_AndValidateRefusesBadFields()
    {
        Assert.Equal(4, new DifforaConfig().KeptCount(8));
        Assert.Equal(3, new DifforaConfig { KeepRatio = 0.3 }.KeptCount(8));
        Assert.Equal(1, new DifforaConfig { KeepRatio = 0.01 }.KeptCount(8));
        Assert.Equal(8, new DifforaConfig { KeepRatio = 1 }.KeptCount(8));
        Assert.Throws<ArgumentException>(() => new DifforaConfig { KeepRatio = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new DifforaConfig { KeepRatio = 1.5 }.Validate());
        Assert.Throws<ArgumentException>(() => new DifforaConfig { SearchSteps = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new DifforaConfig { KeptModules = [] }.Validate());
        Assert.Throws<ArgumentException>(() => new DifforaConfig { R = 0 }.Validate());
    }
}
