using Engine.Nn.Checkpoints;
using Engine.Peft.Inserted;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Fidelity;

/// <summary>
/// Houlsby bottlenecks as the reference code initialises them: weights from a normal truncated at ±2 std of init_std
/// (whose standard deviation is 0.8796 init_std), biases zero; the zoo preset trains and saves the layer norms
/// (Houlsby et al. 2019, section 2.1).
/// </summary>
public class BottleneckInitTests
{
    // sqrt(1 - 2 * 2 phi(2) / (2 Phi(2) - 1)): the standard deviation of N(0, 1) truncated to [-2, 2].
    const double TruncatedStd = 0.87962566;

    [Fact]
    public void Projections_AreTruncatedNormalAtTwoStd_BiasesZero()
    {
        const double initStd = 0.05;
        var peft = Peft.Apply(TinyGpt(), new BottleneckConfig { BottleneckSize = 64, InitStd = initStd, TargetModules = ["attn.proj", "mlp.proj"], Seed = 9 });
        var layers = peft.AdapterLayers().Select(l => (BottleneckLayer)l.Layer).ToList();
        Assert.Equal(4, layers.Count);
        var weights = new List<double>();
        foreach (var layer in layers)
            foreach (var linear in new[] { layer.DownProjection("default"), layer.UpProjection("default") })
            {
                weights.AddRange(linear.Weight.ToDoubleArray());
                Assert.All(linear.Bias!.ToDoubleArray(), v => Assert.Equal(0.0, v));
            }
        Assert.Equal(4 * 2 * 64 * 8, weights.Count);
        Assert.All(weights, w => Assert.True(Math.Abs(w) <= 2 * initStd * (1 + 1e-6), $"|{w}| is beyond 2 init_std"));
        double mean = weights.Average();
        double std = Math.Sqrt(weights.Sum(w => (w - mean) * (w - mean)) / (weights.Count - 1));
        // 4096 draws: standard error of the std about 0.8%; 5% is far outside it, and far from 1.0 (untruncated) or 0.577 (uniform).
        Assert.InRange(std / initStd, TruncatedStd * 0.95, TruncatedStd * 1.05);
        Assert.InRange(mean / initStd, -0.05, 0.05);
        // The tails reach near the cut: not a narrower distribution.
        Assert.True(weights.Max(Math.Abs) > 1.8 * initStd);
    }

    [Fact]
    public void Preset_TrainsAndSavesTheLayerNorms()
    {
        var config = BottleneckConfig.Preset(AdapterPreset.ForTransformer(8, 100, 1));
        var peft = Peft.Apply(TinyGpt(), config);
        var trainable = peft.NamedParameters().Where(p => p.Parameter.RequiresGrad).Select(p => p.Name).ToList();
        foreach (var block in new[] { 0, 1 })
            foreach (var norm in new[] { "ln1", "ln2" })
                foreach (var param in new[] { "weight", "bias" })
                    Assert.Contains($"base_model.blocks.{block}.{norm}.modules_to_save.default.{param}", trainable);
        Assert.DoesNotContain(trainable, n => n.Contains("ln_f") || n.Contains("base_layer") || n.Contains("tok."));

        ulong seed = 30;
        foreach (var block in new[] { 0, 1 })
            foreach (var norm in new[] { "ln1", "ln2" })
                Scramble(peft.NamedParameters().Single(p => p.Name == $"base_model.blocks.{block}.{norm}.modules_to_save.default.weight").Parameter, seed++, 1);
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var file = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            foreach (var block in new[] { 0, 1 })
                foreach (var norm in new[] { "ln1", "ln2" })
                {
                    string key = AdapterFiles.KeyPrefix + peft.PathOf($"blocks.{block}.{norm}").External;
                    Assert.Equal($"base_model.model.transformer.h.{block}.ln_{norm[2]}", key);
                    var live = peft.NamedParameters().Single(p => p.Name == $"base_model.blocks.{block}.{norm}.modules_to_save.default.weight").Parameter;
                    Assert.Equal(live.ToDoubleArray(), file[key + ".weight"].ToDoubleArray());
                    Assert.Contains(key + ".bias", file.Keys);
                }
            // The trained norms come back on a fresh base.
            var loaded = Peft.FromPretrained(TinyGpt(), folder);
            Assert.Equal(peft.Forward(Ids()).ToDoubleArray(), loaded.Forward(Ids()).ToDoubleArray());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
