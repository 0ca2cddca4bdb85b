using Engine.Peft.Inserted;
using Engine.Peft.Transfer;
using Xunit;
using static Engine.Peft.Tests.TestSupport;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Peft.Tests.Transfer;

/// <summary>
/// ScaLearn (arXiv:2310.01217): with one-hot ω the adapted model is the model with that source bottleneck alone (the
/// paper's point: ScaLearn spans its sources); the trainable counts L·K·d, L·K, K·d, K; dropout acts on ω, not on the
/// activations; files hold the sources' tensors, so a saved adapter reloads without the source folders.
/// </summary>
public class ScaLearnTests
{
    static readonly ModuleSelector Ffn = ["mlp.proj"];

    // K trained-looking BOTTLENECK sources on the feed-forward outputs, each saved in its own folder.
    static string[] SaveSources(params int[] sizes)
    {
        var root = TempFolder();
        return sizes.Select((m, k) =>
        {
            var peft = PeftApi.Apply(TinyGpt(), new BottleneckConfig { BottleneckSize = m, InitStd = 0.4, TargetModules = Ffn, Seed = (ulong)(20 + k) });
            // Biases too, so every source tensor matters.
            foreach (var p in peft.TrainableParameters()) Scramble(p, (ulong)(30 + k), 0.2);
            var folder = Path.Combine(root, $"source{k}");
            peft.SavePretrained(folder);
            return folder;
        }).ToArray();
    }

    static void SetOneHot(PeftModel peft, int j)
    {
        using var _ = Autograd.Autograd.NoGrad();
        foreach (var omega in Omegas(peft))
            for (int k = 0; k < omega.Size(0); k++) omega.Select(0, k).Fill(k == j ? 1 : 0);
    }

    static List<Tensor> Omegas(PeftModel peft)
    {
        var list = new List<Tensor>();
        foreach (var (_, layer) in peft.AdapterLayers())
            if (layer is ScaLearnLayer s && !list.Contains(s.Omega("default"), ReferenceEqualityComparer.Instance)) list.Add(s.Omega("default"));
        return list;
    }

    [Theory]
    [InlineData("vector", false)]
    [InlineData("scalar", false)]
    [InlineData("vector", true)]
    [InlineData("scalar", true)]
    public void OneHotOmega_GivesTheChosenSourceAdapterAlone(string shape, bool perLayer)
    {
        var folders = SaveSources(3, 5, 2);
        var peft = PeftApi.Apply(TinyGpt(), new ScaLearnConfig { Adapters = folders, OmegaShape = shape, PerLayer = perLayer, TargetModules = Ffn, Seed = 4 });
        peft.Eval();
        var ids = Ids();
        var baseLogits = TinyGpt().Forward(ids).ToDoubleArray();
        for (int j = 0; j < folders.Length; j++)
        {
            SetOneHot(peft, j);
            var got = peft.Forward(ids).ToDoubleArray();
            var single = PeftApi.Apply(TinyGpt(), new BottleneckConfig { BottleneckSize = 1, TargetModules = Ffn });
            single.LoadAdapter(folders[j], "source");
            single.SetAdapter("source");
            var expected = single.Forward(ids).ToDoubleArray();
            Assert.True(expected.Zip(baseLogits).Max(p => Math.Abs(p.First - p.Second)) > 1e-3, "the source must change the model");
            for (int i = 0; i < got.Length; i++) Assert.Equal(expected[i], got[i], 5);
        }
    }

    [Fact]
    public void TrainableCounts_AreLKd_LK_Kd_K()
    {
        const int layers = 3, width = 8, k = 2;
        var folders = SaveSources(3, 4);
        long Count(string shape, bool perLayer) =>
            PeftApi.Apply(TinyGpt(layers: layers), new ScaLearnConfig { Adapters = folders, OmegaShape = shape, PerLayer = perLayer, TargetModules = Ffn }).ParameterCount(trainableOnly: true);
        // TinyGpt(layers: 3) cannot load the 2-layer sources: build 3-layer ones.
        Assert.Throws<ArgumentException>(() => Count("vector", false));
        folders = SaveSourcesLayers(layers, 3, 4);
        Assert.Equal(layers * k * width, Count("vector", false));
        Assert.Equal(layers * k, Count("scalar", false));
        Assert.Equal(k * width, Count("vector", true));
        Assert.Equal(k, Count("scalar", true));
    }

    static string[] SaveSourcesLayers(int layers, params int[] sizes)
    {
        var root = TempFolder();
        return sizes.Select((m, k) =>
        {
            var peft = PeftApi.Apply(TinyGpt(layers: layers), new BottleneckConfig { BottleneckSize = m, InitStd = 0.4, TargetModules = Ffn, Seed = (ulong)(20 + k) });
            var folder = Path.Combine(root, $"source{k}");
            peft.SavePretrained(folder);
            return folder;
        }).ToArray();
    }

    [Fact]
    public void Omega_StartsAtScaleOverK_WithTinySpread()
    {
        var folders = SaveSources(2, 2, 2, 2);
        var peft = PeftApi.Apply(TinyGpt(), new ScaLearnConfig { Adapters = folders, TargetModules = Ffn, Seed = 9 });
        var values = Omegas(peft).SelectMany(o => o.ToDoubleArray()).ToArray();
        Assert.Equal(2 * 8 * 4, values.Length);
        Assert.All(values, v => Assert.InRange(v, 0.5 - 0.006, 0.5 + 0.006));
        Assert.True(values.Distinct().Count() > 1);
    }

    [Fact]
    public void Dropout_ActsOnOmega_OneMaskForEveryToken()
    {
        // One source: y - h = ω' ⊙ a with ω' = ω ⊙ mask / (1 - p) the same for every token of the batch (pitfall 7).
        var folders = SaveSources(3);
        var peft = PeftApi.Apply(TinyGpt(), new ScaLearnConfig { Adapters = folders, DropoutRatio = 0.5, TargetModules = Ffn, Seed = 2 });
        var layer = peft.AdapterLayers().Select(l => l.Layer).OfType<ScaLearnLayer>().First();
        peft.Train();
        var x = Randn(4, 2, 5, layer.InFeatures);
        var h = layer.BaseLayer.Forward(x).ToDoubleArray();
        var a = layer.Sources("default").Output(0, layer.BaseLayer.Forward(x)).ToDoubleArray();
        var y = layer.Forward(x).ToDoubleArray();
        var omega = layer.Omega("default").ToDoubleArray();
        int d = layer.OutFeatures;
        int dropped = 0;
        for (int c = 0; c < d; c++)
        {
            bool kept = Math.Abs((y[c] - h[c]) / a[c]) > 1e-6;
            if (!kept) dropped++;
            for (int row = 0; row < 10; row++)
            {
                double expected = kept ? omega[c] / 0.5 * a[row * d + c] : 0;
                Assert.Equal(expected, y[row * d + c] - h[row * d + c], 5);
            }
        }
        Assert.InRange(dropped, 1, d - 1);
        peft.Eval();
        var eval = layer.Forward(x).ToDoubleArray();
        for (int i = 0; i < eval.Length; i++) Assert.Equal(h[i] + omega[i % d] * a[i], eval[i], 5);
    }

    [Fact]
    public void SavedAdapter_HoldsTheSources_AndReloadsWithoutTheirFolders()
    {
        var folders = SaveSources(3, 5);
        var peft = PeftApi.Apply(TinyGpt(), new ScaLearnConfig { Adapters = folders, TargetModules = Ffn, Seed = 4 });
        foreach (var o in Omegas(peft)) Scramble(o, 3, 0.5);
        peft.Eval();
        var expected = peft.Forward(Ids()).ToDoubleArray();
        var saved = TempFolder();
        peft.SavePretrained(saved);
        foreach (var f in folders) Directory.Delete(f, true);
        var config = (ScaLearnConfig)AdapterFiles.ReadConfig(saved);
        Assert.Equal(folders, config.Adapters);
        Assert.Equal([3, 5], config.SourceBottleneckSizes!);
        var reloaded = PeftApi.FromPretrained(TinyGpt(), saved);
        var got = reloaded.Forward(Ids()).ToDoubleArray();
        for (int i = 0; i < got.Length; i++) Assert.Equal(expected[i], got[i], 6);
        Assert.Equal(0, reloaded.AdapterLayers().Select(l => l.Layer).OfType<ScaLearnLayer>().SelectMany(l => l.Sources("default").Parameters()).Count(p => p.RequiresGrad));
    }

    [Fact]
    public void Sources_AreFrozen_OnlyOmegaTrains()
    {
        var peft = PeftApi.Apply(TinyGpt(), new ScaLearnConfig { NewSources = [new BottleneckConfig { BottleneckSize = 2, InitStd = 0.3 }], TargetModules = Ffn });
        Assert.Equal(2 * 8, peft.ParameterCount(trainableOnly: true));
    }

    [Fact]
    public void ThePresetsUntrainedSources_AreRefusedWithAClearMessage()
    {
        var preset = ScaLearnConfig.Preset(AdapterPreset.ForTransformer(4, 10, 1));
        var e = Assert.Throws<NotSupportedException>(() => PeftApi.Apply(TinyGpt(), preset));
        Assert.Contains("trained single-task first", e.Message);
    }

    [Fact]
    public void ASourceWithAnotherActivation_OrNotCoveringTheTarget_IsRefused()
    {
        var folders = SaveSources(2);
        Assert.Throws<ArgumentException>(() => PeftApi.Apply(TinyGpt(), new ScaLearnConfig { Adapters = folders, Activation = "relu", TargetModules = Ffn }));
        Assert.ThrowsAny<ArgumentException>(() => PeftApi.Apply(TinyGpt(), new ScaLearnConfig { Adapters = folders, TargetModules = ["attn.proj"] }));
    }
}
