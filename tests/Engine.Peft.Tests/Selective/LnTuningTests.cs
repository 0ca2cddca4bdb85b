using Engine.Peft.Selective;
using Engine.Peft.Tests.Laws;
using Xunit;

namespace Engine.Peft.Tests.Selective;

/// <summary>LN tuning's defining property: the targeted norms run as trained copies, nothing else changes.</summary>
public class LnTuningTests
{
    [Fact]
    public void DefaultTargets_AreEveryNormOfGpt2_AndTheForwardUsesTheCopies()
    {
        var model = LawCases.Base();
        var peft = Peft.Apply(model, new LnTuningConfig { Seed = 5 });
        // ln_1 and ln_2 of both blocks and ln_f (PEFT's GPT-2 mapping).
        Assert.Equal(["blocks.0.ln1", "blocks.0.ln2", "blocks.1.ln1", "blocks.1.ln2", "ln_f"], peft.AdapterLayers().Select(l => l.Path).Order(StringComparer.Ordinal));
        LawCases.Scramble(peft, std: 0.3);
        var layer = (LnTuningLayer)peft.AdapterLayers().Single(l => l.Path == "ln_f").Layer;
        var copy = layer.Copy("default").StateDict();
        var x = Tensor.Randn([3, 16], generator: new Generator(4));
        // The naive LayerNorm with the copy's weight and bias.
        var xs = x.ToDoubleArray();
        var (w, b) = (copy["weight"].ToDoubleArray(), copy["bias"].ToDoubleArray());
        var expected = new double[xs.Length];
        for (int r = 0; r < 3; r++)
        {
            var row = xs.AsSpan(r * 16, 16).ToArray();
            double mean = row.Average(), variance = row.Select(v => (v - mean) * (v - mean)).Average();
            for (int i = 0; i < 16; i++) expected[r * 16 + i] = (row[i] - mean) / Math.Sqrt(variance + 1e-5) * w[i] + b[i];
        }
        var actual = layer.Forward(x).ToDoubleArray();
        Assert.All(expected.Zip(actual), p => Assert.True(Math.Abs(p.First - p.Second) < 1e-5));
    }

    [Fact]
    public void TwoActiveAdapters_AreRefused_AndOnlyOneMerges()
    {
        var peft = Peft.Apply(LawCases.Base(), new LnTuningConfig(), "a");
        peft.AddAdapter("b", new LnTuningConfig());
        peft.SetAdapter("a", "b");
        Assert.Throws<NotSupportedException>(() => peft.Forward(LawCases.Ids()));
        peft.SetAdapter("a");
        peft.Merge("a");
        Assert.Contains("one adapter at a time", Assert.Throws<NotSupportedException>(() => peft.Merge("b")).Message);
    }
}
