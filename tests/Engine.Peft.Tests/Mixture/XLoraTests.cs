using Engine.Peft.LowRank;
using Engine.Peft.Mixture;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Mixture;

/// <summary>
/// X-LoRA's defining properties, with expected values computed independently: the mixing weights sum to one per token
/// (softmax), top-k keeps exactly k per token and layer (the k largest, by a naive ranking), the softmax over the kept
/// ones sums to one again; with one expert and softmax the weight is 1 and the model equals that LoRA; the experts
/// train only with use_trainable_adapters; deleting the X-LoRA adapter deletes its experts; generation recomputes.
/// </summary>
public class XLoraTests
{
    static readonly ModuleSelector Linears = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"];

    static LoraConfig Expert(int r = 2) => new() { R = r, LoraAlpha = 4, TargetModules = Linears, InitLoraWeights = LoraInit.Random, Seed = 9 };

    static XLoraConfig Config(int experts = 3) => new()
    {
        NewExperts = Enumerable.Range(0, experts).Select(i => Expert(2 + i % 2)).ToList(),
        LayerwiseScalings = true, XloraDepth = 2, XloraSize = 6, XloraDropoutP = 0, Seed = 3,
    };

    static XLoraModelPart Part(PeftModel peft) => (XLoraModelPart)peft.ModelPart("default")!;

    [Fact]
    public void MixingWeights_SumToOnePerTokenAndLayer_AndTopKKeepsExactlyTheKLargest()
    {
        var peft = Peft.Apply(TinyGpt(), Config());
        LawCasesScramble(peft);
        peft.Forward(Ids());
        var part = Part(peft);
        var scalings = part.LatestScalings!;
        Assert.Equal(new[] { 2, 5, part.LayerCount, 3 }, scalings.Shape);
        Assert.Equal(8, part.LayerCount);
        var s = scalings.ToDoubleArray();
        for (int row = 0; row < s.Length / 3; row++) Assert.Equal(1.0, s[row * 3] + s[row * 3 + 1] + s[row * 3 + 2], 6);

        var c = (XLoraConfig)peft.PeftConfigs["default"];
        for (int l = 0; l < part.LayerCount; l++)
        {
            var layer = scalings.Select(2, l);
            var all = layer.ToDoubleArray();
            var top2 = XLoraMixing.LayerScalings(layer, c with { TopKLora = 2 }).ToDoubleArray();
            var soft = XLoraMixing.LayerScalings(layer, c with { TopKLora = 2, EnableSoftmaxTopk = true }).ToDoubleArray();
            for (int token = 0; token < 10; token++)
            {
                var w = all.AsSpan(token * 3, 3).ToArray();
                // Naive: drop the smallest of three.
                int smallest = Array.IndexOf(w, w.Min());
                for (int k = 0; k < 3; k++)
                {
                    Assert.Equal(k == smallest ? 0 : w[k], top2[token * 3 + k], 12);
                    Assert.Equal(k == smallest ? 0 : Math.Exp(w[k]) / Enumerable.Range(0, 3).Where(j => j != smallest).Sum(j => Math.Exp(w[j])), soft[token * 3 + k], 1e-6);
                }
                Assert.Equal(2, top2.AsSpan(token * 3, 3).ToArray().Count(v => v != 0));
                Assert.Equal(1.0, soft.AsSpan(token * 3, 3).ToArray().Sum(), 6);
            }
        }
    }

    [Fact]
    public void TopKMask_KeepsExactlyKPerRow_TiesToTheLowerIndex()
    {
        var s = Tensor.FromArray(new float[,] { { 0.5f, 0.5f, 0.5f, 0.1f }, { 0.1f, 0.9f, 0.3f, 0.9f } });
        Assert.Equal(new double[] { 1, 1, 0, 0, 0, 1, 0, 1 }, XLoraMixing.TopKMask(s, 2).ToDoubleArray());
        Assert.Equal(new double[] { 1, 1, 1, 0, 0, 1, 1, 1 }, XLoraMixing.TopKMask(s, 3).ToDoubleArray());
    }

    [Fact]
    public void OneExpertWithSoftmax_GivesThatLora()
    {
        var expert = Expert();
        var xlora = Peft.Apply(TinyGpt(), new XLoraConfig { NewExperts = [expert], XloraDepth = 2, XloraSize = 4, Seed = 3 });
        LawCasesScramble(xlora);
        xlora.Forward(Ids());
        Assert.All(Part(xlora).LatestScalings!.ToDoubleArray(), v => Assert.Equal(1.0, v, 12));
        // The same LoRA (same name, so the same initialisation) on its own.
        var lora = Peft.Apply(TinyGpt(), expert, "default_0");
        var a = xlora.NamedAdapterTensors("default_0").ToDictionary(t => t.Key, t => t.Tensor.ToDoubleArray());
        Assert.All(lora.NamedAdapterTensors("default_0"), t => Assert.Equal(a[t.Key], t.Tensor.ToDoubleArray()));
        AssertClose(lora.Forward(Ids()), xlora.Forward(Ids()), 1e-6, "one expert");
    }

    [Fact]
    public void Experts_TrainOnlyWithUseTrainableAdapters_AndGoWithTheirOwner()
    {
        var frozen = Peft.Apply(TinyGpt(), Config(2));
        Assert.All(frozen.NamedAdapterTensors("default_0"), t => Assert.False(t.Tensor.RequiresGrad));
        Assert.All(frozen.NamedAdapterTensors("default"), t => Assert.True(t.Tensor.RequiresGrad));
        var trained = Peft.Apply(TinyGpt(), Config(2) with { UseTrainableAdapters = true });
        Assert.All(trained.NamedAdapterTensors("default_1"), t => Assert.True(t.Tensor.RequiresGrad));
        Assert.Equal(["default"], trained.ActiveAdapters);

        trained.DeleteAdapter("default");
        Assert.Empty(trained.AdapterNames);
        Assert.Empty(trained.AdapterLayers());
    }

    [Fact]
    public void Generate_RecomputesWithoutACache_AndTheCacheIsRefused()
    {
        var peft = Peft.Apply(TinyGpt(), Config(2));
        LawCasesScramble(peft);
        var part = Part(peft);
        Assert.Throws<NotSupportedException>(() => part.CreateCache(peft, 1));
        var prompt = Tensor.FromArray(new long[,] { { 1, 5, 2 } });
        var tokens = part.Generate(peft, prompt, 3, new SamplingOptions(Greedy: true));
        Assert.Equal(new[] { 1, 6 }, tokens.Shape);
        // Each new token is the argmax of the full forward on the tokens before it.
        for (int t = 3; t < 6; t++)
        {
            var logits = peft.Forward(tokens.Narrow(1, 0, t));
            Assert.Equal(logits.Select(1, -1).ArgMax(-1).ToArray<long>()[0], tokens.ToArray<long>()[t]);
        }
    }

    [Fact]
    public void AFailingExpert_LeavesTheModelAsItWas()
    {
        var folder = TempFolder();
        try
        {
            var good = Path.Combine(folder, "good");
            var bad = Path.Combine(folder, "bad");
            Peft.Apply(TinyGpt(), Expert()).SavePretrained(good);
            Peft.Apply(TinyGpt(), Expert(3)).SavePretrained(bad);
            // The second expert's file no longer matches its config (rank 3): it fails after the first has loaded.
            File.Copy(Path.Combine(good, AdapterFiles.WeightsFileName), Path.Combine(bad, AdapterFiles.WeightsFileName), overwrite: true);
            var gpt = TinyGpt();
            var peft = new PeftModel<Gpt>(gpt);
            var before = LawCasesOutputs(peft);
            Assert.Throws<InvalidDataException>(() => peft.AddAdapter("default", new XLoraConfig { Adapters = new Dictionary<string, string> { ["g"] = good, ["b"] = bad } }));
            Assert.Empty(peft.AdapterNames);
            Assert.Empty(peft.AdapterLayers());
            Assert.Equal(before, LawCasesOutputs(peft));

            // Relative paths resolve against the X-LoRA folder: a saved adapter names its own subfolders.
            var xlora = Peft.Apply(TinyGpt(), new XLoraConfig { Adapters = new Dictionary<string, string> { ["g"] = good, ["g2"] = good } });
            var saved = Path.Combine(folder, "xlora");
            xlora.SavePretrained(saved);
            Assert.True(File.Exists(Path.Combine(saved, "g2", AdapterFiles.WeightsFileName)));
            Assert.Equal(LawCasesOutputs(xlora), LawCasesOutputs(Peft.FromPretrained(TinyGpt(), saved)));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    static double[] LawCasesOutputs(PeftModel peft)
    {
        using (Autograd.Autograd.NoGrad()) return peft.Forward(Ids()).ToDoubleArray();
    }

    static void LawCasesScramble(PeftModel peft) => Laws.LawCases.Scramble(peft, 11, 0.5);
}
