using Engine.Nn.Merging;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// PEFT's task-vector combinations of LoRA adapters (<c>add_weighted_adapter</c> with linear, ties, dare_*,
/// magnitude_prune and their _svd forms); cat and svd are in <see cref="PeftModelTests"/>.
/// </summary>
public class LoraCombinationTests
{
    // Two adapters on qkv, rank 2 (scale 2) and rank 2 or 3 (scale 1).
    static PeftModel TwoAdapters(int rankB = 2)
    {
        var peft = Peft.Apply(TinyGpt(), Lora(r: 2, alpha: 4, seed: 1, "qkv"), "a");
        peft.AddAdapter("b", Lora(r: rankB, alpha: rankB, seed: 2, "qkv"));
        return peft;
    }

    static IEnumerable<LoraLayer> Layers(PeftModel peft) => peft.AdapterLayers().Select(l => (LoraLayer)l.Layer);

    static int Out(LoraLayer layer) => layer.LoraB("a").Size(0);

    static int In(LoraLayer layer) => layer.LoraA("a").Size(1);

    static double[] Sum(double wa, double[] a, double wb, double[] b) => a.Zip(b, (x, y) => wa * x + wb * y).ToArray();

    // Keeps the ⌊d·n⌋ largest magnitudes (ties: lower index), by a sort written here.
    static double[] NaivePrune(double[] v, double density)
    {
        int k = (int)(density * v.Length);
        var keep = v.Select((x, i) => (Magnitude: Math.Abs(x), Index: i)).OrderByDescending(p => p.Magnitude).ThenBy(p => p.Index).Take(k).Select(p => p.Index).ToHashSet();
        return v.Select((x, i) => keep.Contains(i) ? x : 0).ToArray();
    }

    // Both adapters' factors made positive, so every entry of the two agrees in sign.
    static void MakePositive(PeftModel peft)
    {
        foreach (var layer in Layers(peft))
            foreach (var (name, seed) in new[] { ("a", 11UL), ("b", 12UL) })
                layer.SetFactors(name, Randn(seed, layer.LoraA(name).Shape).Abs() + 0.1, Randn(seed + 100, layer.LoraB(name).Shape).Abs() + 0.1);
    }

    [Fact]
    public void Linear_SplitsEachSignedWeightTimesScaleAsSquareRootsOverTheFactors()
    {
        var peft = TwoAdapters();
        peft.AddWeightedAdapter(["a", "b"], [0.7, -0.3], "mix", LoraCombinationType.Linear);
        foreach (var layer in Layers(peft))
        {
            // PEFT: w_a s_a = 1.4, w_b s_b = −0.3. A' = √1.4 A_a − √0.3 A_b, B' = √1.4 B_a + √0.3 B_b.
            var a = Sum(Math.Sqrt(1.4), layer.LoraA("a").ToDoubleArray(), -Math.Sqrt(0.3), layer.LoraA("b").ToDoubleArray());
            var b = Sum(Math.Sqrt(1.4), layer.LoraB("a").ToDoubleArray(), Math.Sqrt(0.3), layer.LoraB("b").ToDoubleArray());
            AssertClose(a, layer.LoraA("mix").ToDoubleArray(), 1e-5);
            AssertClose(b, layer.LoraB("mix").ToDoubleArray(), 1e-5);
            Assert.Equal((2, 1.0), (layer.Settings("mix").R, layer.Settings("mix").Scaling));
            AssertClose(NaiveProduct(b, a, Out(layer), 2, In(layer)), layer.DeltaWeight("mix").ToDoubleArray(), 1e-5);
        }
    }

    [Fact]
    public void Ties_AtDensityOneOnEqualSignedAdapters_IsLinearDividedByTheCount()
    {
        // Every entry agrees, so the disjoint mean is the plain mean: the linear factors over 2.
        var peft = TwoAdapters();
        MakePositive(peft);
        peft.AddWeightedAdapter(["a", "b"], [0.5, 1.5], "linear", LoraCombinationType.Linear);
        peft.AddWeightedAdapter(["a", "b"], [0.5, 1.5], "ties", LoraCombinationType.Ties, density: 1);
        peft.AddWeightedAdapter(["a", "b"], [0.5, 1.5], "dare", LoraCombinationType.DareTies, density: 1);
        foreach (var layer in Layers(peft))
        {
            AssertClose(layer.LoraA("linear").ToDoubleArray().Select(v => v / 2).ToArray(), layer.LoraA("ties").ToDoubleArray(), 1e-5);
            AssertClose(layer.LoraB("linear").ToDoubleArray().Select(v => v / 2).ToArray(), layer.LoraB("ties").ToDoubleArray(), 1e-5);
            AssertClose(layer.LoraA("ties").ToDoubleArray(), layer.LoraA("dare").ToDoubleArray(), 1e-6);
        }
    }

    [Fact]
    public void MagnitudePrune_PrunesEachFactorBeforeTheWeightedSum()
    {
        var peft = TwoAdapters();
        peft.AddWeightedAdapter(["a", "b"], [1, 2], "mix", LoraCombinationType.MagnitudePrune, density: 0.25);
        foreach (var layer in Layers(peft))
        {
            // w_i s_i = 2 each.
            var a = Sum(Math.Sqrt(2), NaivePrune(layer.LoraA("a").ToDoubleArray(), 0.25), Math.Sqrt(2), NaivePrune(layer.LoraA("b").ToDoubleArray(), 0.25));
            var b = Sum(Math.Sqrt(2), NaivePrune(layer.LoraB("a").ToDoubleArray(), 0.25), Math.Sqrt(2), NaivePrune(layer.LoraB("b").ToDoubleArray(), 0.25));
            AssertClose(a, layer.LoraA("mix").ToDoubleArray(), 1e-5);
            AssertClose(b, layer.LoraB("mix").ToDoubleArray(), 1e-5);
        }
    }

    [Fact]
    public void SvdForms_AtFullRank_EqualTheCombinedUpdate_AndDefaultToTheLargestRank()
    {
        var peft = TwoAdapters(rankB: 3);
        // magnitude_prune_svd: ΔW = Σ_i w_i s_i prune(ΔW_i) with ΔW_i = s_i B_i A_i (PEFT weights the scaled updates).
        peft.AddWeightedAdapter(["a", "b"], [0.5, 1.5], "full", LoraCombinationType.MagnitudePruneSvd, svdRank: 8, density: 0.5);
        peft.AddWeightedAdapter(["a", "b"], [0.5, 1.5], "top", LoraCombinationType.TiesSvd, density: 0.5);
        peft.AddWeightedAdapter(["a", "b"], [0.5, 1.5], "svd", LoraCombinationType.Svd);
        peft.AddWeightedAdapter(["a", "b"], [0.5, 1.5], "dare1", LoraCombinationType.DareLinearSvd, density: 1);
        foreach (var layer in Layers(peft))
        {
            var da = NaiveProduct(layer.LoraB("a").ToDoubleArray(), layer.LoraA("a").ToDoubleArray(), Out(layer), 2, In(layer)).Select(v => v * 2).ToArray();
            var db = NaiveProduct(layer.LoraB("b").ToDoubleArray(), layer.LoraA("b").ToDoubleArray(), Out(layer), 3, In(layer)).ToArray();
            var expected = Sum(0.5 * 2, NaivePrune(da, 0.5), 1.5 * 1, NaivePrune(db, 0.5));
            AssertClose(expected, layer.DeltaWeight("full").ToDoubleArray(), 1e-4);
            Assert.Equal(Math.Min(Out(layer), In(layer)), layer.Settings("full").R);
            Assert.Equal(3, layer.Settings("top").R);
            Assert.Equal([3, In(layer)], layer.LoraA("top").Shape);
            // DARE at density 1 keeps everything: the plain PEFT svd.
            AssertClose(layer.DeltaWeight("svd").ToDoubleArray(), layer.DeltaWeight("dare1").ToDoubleArray(), 1e-5);
        }
    }

    [Fact]
    public void Dare_IsReproducibleFromItsGenerator()
    {
        var peft = TwoAdapters();
        peft.AddWeightedAdapter(["a", "b"], [1, 1], "x", LoraCombinationType.DareLinear, density: 0.5, generator: new Generator(5));
        peft.AddWeightedAdapter(["a", "b"], [1, 1], "y", LoraCombinationType.DareLinear, density: 0.5, generator: new Generator(5));
        peft.AddWeightedAdapter(["a", "b"], [1, 1], "z", LoraCombinationType.DareLinear, density: 0.5, generator: new Generator(6));
        foreach (var layer in Layers(peft))
        {
            Assert.Equal(layer.LoraA("x").ToDoubleArray(), layer.LoraA("y").ToDoubleArray());
            Assert.NotEqual(layer.LoraA("x").ToDoubleArray(), layer.LoraA("z").ToDoubleArray());
        }
    }

    [Fact]
    public void OneAdapter_IsCombinedLinearly_AsPeft()
    {
        var peft = TwoAdapters();
        peft.AddWeightedAdapter(["a"], [-0.5], "one", LoraCombinationType.Ties, density: 0.1);
        foreach (var layer in Layers(peft))
        {
            // w s = −1: A' = −A, B' = B, nothing pruned.
            AssertClose(layer.LoraA("a").ToDoubleArray().Select(v => -v).ToArray(), layer.LoraA("one").ToDoubleArray(), 1e-6);
            AssertClose(layer.LoraB("a").ToDoubleArray(), layer.LoraB("one").ToDoubleArray(), 1e-6);
        }
    }

    [Fact]
    public void UnequalRanks_MissingOrBadDensity_AreRefused()
    {
        var peft = TwoAdapters(rankB: 3);
        var e = Assert.Throws<ArgumentException>(() => peft.AddWeightedAdapter(["a", "b"], [1, 1], "x", LoraCombinationType.Linear));
        Assert.Contains("ranks [2, 3]", e.Message);
        Assert.Contains("attn", e.Message);
        Assert.Contains("density", Assert.Throws<ArgumentException>(() => peft.AddWeightedAdapter(["a", "b"], [1, 1], "x", LoraCombinationType.TiesSvd)).Message);
        Assert.Contains("density", Assert.Throws<ArgumentException>(() => peft.AddWeightedAdapter(["a", "b"], [1, 1], "x", LoraCombinationType.DareTiesSvd, density: 1.5)).Message);
        Assert.DoesNotContain("x", peft.AdapterNames);
    }
}
