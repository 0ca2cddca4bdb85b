using Engine.Peft.LowRank;
using FsCheck.Xunit;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>Laws of the LoRA layer over random shapes, ranks, scales and variants; each seed picks one case.</summary>
public class LoraPropertyTests
{
    static (LoraLayer Layer, Tensor X) RandomCase(int seed)
    {
        var rng = new System.Random(seed);
        int inF = rng.Next(1, 9), outF = rng.Next(1, 9);
        int r = rng.Next(1, Math.Min(inF, outF) + 1);
        var init = (LoraInit)rng.Next(0, 5);
        var config = new LoraConfig
        {
            R = r, LoraAlpha = rng.Next(1, 17), UseRsLora = rng.Next(2) == 0, UseDora = rng.Next(2) == 0,
            InitLoraWeights = init, Seed = (ulong)rng.Next(),
        };
        var layer = new LoraLayer(new Linear(inF, outF, bias: rng.Next(2) == 0, new Generator((ulong)rng.Next())));
        layer.AddAdapter(AdapterContext.Standalone("default", config, "l"));
        layer.SetActive(["default"]);
        // Move away from the initialisation so the adapter contributes.
        ulong s = (ulong)rng.Next();
        foreach (var (_, t) in layer.AdapterTensors("default")) Scramble(t, s++, 0.5);
        if (layer.Magnitude("default") is { } m)
            using (Autograd.Autograd.NoGrad()) m.CopyFrom(m.Abs() + 0.5);
        return (layer, Randn((ulong)rng.Next(), 3, inF));
    }

    [Property(MaxTest = 40)]
    public bool MergeThenUnmerge_RestoresWeightsAndMergedOutputEqualsUnmerged(int seed)
    {
        var (layer, x) = RandomCase(seed);
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var y = layer.Forward(x);
        layer.Merge();
        AssertClose(y, layer.Forward(x), 1e-5, "merged output");
        layer.Unmerge();
        var restored = layer.BaseLayer.Weight.ToDoubleArray();
        for (int i = 0; i < w.Length; i++) Assert.True(Math.Abs(w[i] - restored[i]) <= 1e-6, $"weight {i}: {w[i]} vs {restored[i]}");
        AssertClose(y, layer.Forward(x), 1e-5, "unmerged output");
        return true;
    }
}
