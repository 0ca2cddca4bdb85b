using Engine.Peft.LowRank;
using Engine.Peft.Routed;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Routed;

/// <summary>
/// The properties the routed-sharing methods state (spec adapters-lowrank.md sections 11 and 12), with expected values
/// computed by loops in the test: FlyLoRA activates exactly k ranks per token (the top-k of h + d), starts at the base,
/// passes no gradient to x through A, keeps its balance bias still in evaluation, and a merge of two task adapters
/// of one seed (B averaged) gives the average of their updates; MoS trains exactly LoRA's count at the budget rank,
/// its assembled A_i, B_i are the pool shards its indices name and reproduce the forward and the plain-LoRA export,
/// and private shards belong to one layer only.
/// </summary>
public class RoutedPropertyTests
{
    static readonly ModuleSelector Linears = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"];

    static FlyLoraLayer Fly(FlyLoraConfig c, ulong seed = 3) => StandaloneLayer(l => new FlyLoraLayer(l), 12, 10, c, seed);

    static void RandomB(FlyLoraLayer layer, string name = "a", ulong seed = 5) => Scramble(layer.B(name), seed);

    [Theory]
    [InlineData(8, 2, false)]
    [InlineData(8, 3, true)]
    [InlineData(6, 6, false)]
    public void FlyLora_AHasFloorInOverFloorROverKNonZerosPerRow_AndExactlyKRanksAreActivePerToken(int r, int k, bool magnitude)
    {
        var c = new FlyLoraConfig { R = r, TopK = k, LoraAlpha = 2 * r, TopkByMagnitude = magnitude, Seed = 4 };
        var layer = Fly(c);
        var a = layer.A("a").ToDoubleArray();
        int p = 12 / (r / k);
        for (int i = 0; i < r; i++) Assert.Equal(p, Enumerable.Range(0, 12).Count(j => a[i * 12 + j] != 0));
        var x = Randn64(7, 3, 4, 12);
        var h = NaiveMatMulT(x.ToDoubleArray(), 12, a, 12, r);
        var mask = layer.Mask("a", Tensor.FromArray(h, [3, 4, r])).ToDoubleArray();
        for (int t = 0; t < 12; t++)
        {
            var row = Enumerable.Range(0, r).Select(i => magnitude ? Math.Abs(h[t * r + i]) : h[t * r + i]).ToArray();
            var top = Enumerable.Range(0, r).OrderByDescending(i => row[i]).Take(k).ToHashSet();
            Assert.Equal(k, Enumerable.Range(0, r).Count(i => mask[t * r + i] == 1));
            for (int i = 0; i < r; i++) Assert.Equal(top.Contains(i) ? 1.0 : 0.0, mask[t * r + i]);
        }
    }

    [Fact]
    public void FlyLora_ForwardIsTheBasePlusScaledBOfTheMaskedProjection_AndEqualsTheBaseWhileBIsZero()
    {
        var c = new FlyLoraConfig { R = 8, TopK = 2, LoraAlpha = 4, Seed = 4 };
        var layer = Fly(c);
        var x = Randn64(7, 5, 12);
        var baseOut = layer.BaseLayer.Forward(x).ToDoubleArray();
        AssertClose(baseOut, layer.Forward(x).ToDoubleArray(), 0);
        RandomB(layer);
        var (a, b) = (layer.A("a").ToDoubleArray(), layer.B("a").ToDoubleArray());
        var h = NaiveMatMulT(x.ToDoubleArray(), 5, a, 12, 8);
        for (int t = 0; t < 5; t++)
        {
            var top = Enumerable.Range(0, 8).OrderByDescending(i => h[t * 8 + i]).Take(2).ToHashSet();
            for (int i = 0; i < 8; i++) if (!top.Contains(i)) h[t * 8 + i] = 0;
        }
        var update = NaiveMatMulT(h, 5, b, 8, 10);
        AssertClose(baseOut.Select((v, i) => v + 0.5 * update[i]).ToArray(), layer.Forward(x).ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void FlyLora_TheGradientOfTheInputIsTheBaseLayersAlone()
    {
        var layer = Fly(new FlyLoraConfig { R = 8, TopK = 2, Seed = 4 });
        RandomB(layer);
        var x = Randn64(7, 5, 12);
        x.RequiresGrad = true;
        var v = Randn64(8, 5, 10);
        (layer.Forward(x) * v).Sum().Backward();
        // d(sum(v * (x W^T + b)))/dx = v W.
        var expected = NaiveMatMulT(v.ToDoubleArray(), 5, layer.BaseLayer.Weight.T.Contiguous().ToDoubleArray(), 10, 12);
        AssertClose(expected, x.Grad!.ToDoubleArray(), 1e-12);
        Assert.NotNull(layer.B("a").Grad);
    }

    [Fact]
    public void FlyLora_BalanceBiasMovesBySignOfMeanMinusCountInTrainingOnly()
    {
        var c = new FlyLoraConfig { R = 4, TopK = 1, BiasU = 0.25, Seed = 4 };
        var layer = Fly(c);
        var x = Randn64(7, 6, 12);
        layer.Forward(x);
        Assert.All(layer.D("a").ToDoubleArray(), d => Assert.Equal(0, d));
        var h = Tensor.FromArray(NaiveMatMulT(x.ToDoubleArray(), 6, layer.A("a").ToDoubleArray(), 12, 4), [6, 4]);
        var counts = new double[4];
        var hv = h.ToDoubleArray();
        for (int t = 0; t < 6; t++) counts[Enumerable.Range(0, 4).MaxBy(i => hv[t * 4 + i])]++;
        layer.Train();
        layer.Forward(x);
        var expected = counts.Select(n => 0.25 * Math.Sign(1.5 - n)).ToArray();
        AssertClose(expected, layer.D("a").ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void FlyLora_ASeedAndPathDecideA_NotTheAdapterName()
    {
        var layer = StandaloneLayer(l => new FlyLoraLayer(l), 12, 10, new FlyLoraConfig { R = 8, TopK = 2, Seed = 4 }, names: ["female", "male"]);
        Assert.Equal(layer.A("female").ToDoubleArray(), layer.A("male").ToDoubleArray());
        var other = Fly(new FlyLoraConfig { R = 8, TopK = 2, Seed = 5 });
        Assert.NotEqual(layer.A("female").ToDoubleArray(), other.A("a").ToDoubleArray());
    }

    [Fact]
    public void FlyLora_MergingTwoTaskAdaptersOfOneSeed_GivesTheAverageOfTheirUpdates_AndRefusesAnotherSeed()
    {
        var c = new FlyLoraConfig { R = 6, TopK = 2, LoraAlpha = 6, TargetModules = Linears, Seed = 4 };
        var peft = Peft.Apply(TinyGpt().To(DType.Float64), c, adapterName: "female");
        peft.AddAdapter("male", c);
        foreach (var (layer, i) in peft.AdapterLayers().Select((l, i) => ((FlyLoraLayer)l.Layer, i)))
        {
            Scramble(layer.B("female"), (ulong)(10 + i));
            Scramble(layer.B("male"), (ulong)(40 + i));
        }
        // One adapted layer read alone: its update x ΔW is linear in B for fixed masks (d = 0 in evaluation, the same A).
        var probe = (FlyLoraLayer)peft.AdapterLayers().First().Layer;
        var x = Randn64(9, 5, probe.InFeatures);
        double[] Update(string name)
        {
            probe.SetActive([name]);
            var y = probe.Forward(x).ToDoubleArray();
            var b = probe.BaseLayer.Forward(x).ToDoubleArray();
            return y.Select((v, i) => v - b[i]).ToArray();
        }
        var (female, male) = (Update("female"), Update("male"));
        peft.AddMergedAdapter(["female", "male"], "merged");
        AssertClose(female.Select((v, i) => 0.5 * (v + male[i])).ToArray(), Update("merged"), 1e-12);

        peft.AddAdapter("other", c with { Seed = 9 });
        var e = Assert.Throws<ArgumentException>(() => peft.AddMergedAdapter(["female", "other"], "bad"));
        Assert.Contains("another A", e.Message);
    }

    [Fact]
    public void FlyLora_ALayerNarrowerThanROverK_IsRefusedNamingIt()
    {
        var e = Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), new FlyLoraConfig { R = 32, TopK = 2, TargetModules = ["qkv"] }));
        Assert.Contains("floor(r / top_k)", e.Message);
        Assert.Throws<ArgumentException>(() => new FlyLoraConfig { R = 4, TopK = 5 }.Validate());
    }

    static MosConfig Mos(int r = 4, int v = 3, int p = 1, int l = 2) =>
        new() { R = r, BudgetRank = v, PrivateRank = p, ShardsPerVector = l, LoraAlpha = 8, TargetModules = Linears, Seed = 6 };

    [Theory]
    [InlineData(4, 2, 1, 2)]
    [InlineData(6, 3, 0, 4)]
    [InlineData(3, 3, 3, 1)]
    public void Mos_TrainsExactlyLorasCountAtTheBudgetRank(int r, int v, int p, int l)
    {
        var mos = Peft.Apply(TinyGpt(layers: 3), Mos(r, v, p, l));
        var lora = Peft.Apply(TinyGpt(layers: 3), new LoraConfig { R = v, TargetModules = Linears });
        Assert.Equal(lora.ParameterCount(trainableOnly: true), mos.ParameterCount(trainableOnly: true));
    }

    [Fact]
    public void Mos_AssembledFactorsAreThePoolShardsTheIndicesName_AndReproduceTheForwardAndMerge()
    {
        var peft = Peft.Apply(TinyGpt().To(DType.Float64), Mos(l: 4));
        var pools = (MosPools)peft.ModelPart("default")!;
        foreach (var p in pools.Parameters()) Scramble(p, 3);
        var x = Randn64(8, 5, 8);
        foreach (var (path, adapterLayer) in peft.AdapterLayers())
        {
            var layer = (MosLayer)adapterLayer;
            string type = pools.TypeOfLayer(path);
            var (pa, pb) = (pools.PoolA(type).ToDoubleArray(), pools.PoolB(type).ToDoubleArray());
            var (ia, ib) = (layer.IndexA("default").ToArray<long>(), layer.IndexB("default").ToArray<long>());
            int inF = layer.InFeatures, outF = layer.OutFeatures, n = pools.PoolA(type).Size(0);
            int shardIn = inF / 4, shardOut = outF / 4;
            var a = new double[4 * inF];
            var b = new double[outF * 4];
            for (int j = 0; j < 4; j++)
                for (int t = 0; t < 4; t++)
                {
                    for (int e = 0; e < shardIn; e++) a[j * inF + t * shardIn + e] = pa[ia[j * 4 + t] * shardIn + e];
                    for (int e = 0; e < shardOut; e++) b[(t * shardOut + e) * 4 + j] = pb[e * n + ib[j * 4 + t]];
                }
            Assert.Equal(a, layer.A("default").ToDoubleArray());
            Assert.Equal(b, layer.B("default").ToDoubleArray());
            if (inF != 8) continue;
            var expected = NaiveMatMulT(NaiveMatMulT(x.ToDoubleArray(), 5, a, inF, 4), 5, b, 4, outF);
            var baseOut = layer.BaseLayer.Forward(x).ToDoubleArray();
            AssertClose(baseOut.Select((v, i) => v + 2.0 * expected[i]).ToArray(), layer.Forward(x).ToDoubleArray(), 1e-12);
        }
        var merged = peft.Forward(Ids()).ToDoubleArray();
        peft.Merge();
        AssertClose(merged, peft.Forward(Ids()).ToDoubleArray(), 1e-10);
    }

    [Fact]
    public void Mos_PrivateShardsBelongToOneLayer_AndSharedDrawsAreDistinctWithinALayer()
    {
        var peft = Peft.Apply(TinyGpt(layers: 3), Mos(r: 5, v: 3, p: 2, l: 2));
        var pools = (MosPools)peft.ModelPart("default")!;
        foreach (var group in peft.AdapterLayers().GroupBy(l => pools.TypeOfLayer(l.Path)))
        {
            int layers = group.Count(), shared = (3 - 2) * layers * 2;
            foreach (var pick in new Func<MosLayer, long[]>[] { l => l.IndexA("default").ToArray<long>(), l => l.IndexB("default").ToArray<long>() })
            {
                var privateSets = group.Select(l => pick((MosLayer)l.Layer).Skip((5 - 2) * 2).ToArray()).ToList();
                foreach (var l in group.Select(l => pick((MosLayer)l.Layer)))
                {
                    Assert.All(l.Take(6), i => Assert.InRange(i, 0, shared - 1));
                    Assert.Equal(6, l.Take(6).Distinct().Count());
                }
                Assert.All(privateSets, s => Assert.All(s, i => Assert.InRange(i, shared, shared + layers * 4 - 1)));
                Assert.Equal(layers * 4, privateSets.SelectMany(s => s).Distinct().Count());
            }
        }
    }

    [Fact]
    public void Mos_SavedAsPlainLora_ReloadsAsLoraWithTheSameOutput_AndItsOwnFilesReloadExactly()
    {
        var peft = Peft.Apply(TinyGpt(), Mos());
        foreach (var p in ((MosPools)peft.ModelPart("default")!).Parameters()) Scramble(p, 3, 0.3);
        var expected = peft.Forward(Ids()).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(Path.Combine(folder, "mos"));
            AssertClose(expected, Peft.FromPretrained(TinyGpt(), Path.Combine(folder, "mos")).Forward(Ids()).ToDoubleArray(), 0);
            peft.SavePretrained(Path.Combine(folder, "lora"), convertToLora: true);
            var lora = Peft.FromPretrained(TinyGpt(), Path.Combine(folder, "lora"));
            Assert.IsType<LoraConfig>(lora.PeftConfigs["default"]);
            AssertClose(expected, lora.Forward(Ids()).ToDoubleArray(), 1e-5);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void Mos_WidthsNotDivisibleOrTooFewSharedShards_AreRefusedWithTheReason()
    {
        var e = Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), Mos(l: 3)));
        Assert.Contains("shards_per_vector 3", e.Message);
        e = Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), Mos(r: 6, v: 2, p: 1)));
        Assert.Contains("exceeds (budget_rank - private_rank) x layers", e.Message);
        Assert.Throws<ArgumentException>(() => Mos(r: 4, v: 2, p: 3).Validate());
    }
}
