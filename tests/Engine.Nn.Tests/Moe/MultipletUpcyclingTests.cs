using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Moe;

/// <summary>Text-only Diversified Multiplet Upcycling (<see cref="MultipletUpcycling"/>; CLIP-MoE, spec 2.3).</summary>
public class MultipletUpcyclingTests
{
    // Eight texts of two kinds (low ids, high ids) and different lengths, for a vocabulary of 11.
    static readonly long[][] Texts =
    [
        [1, 2, 3, 1, 2], [2, 3, 1], [3, 1, 2, 2], [1, 1, 3, 2, 1, 3],
        [8, 9, 10, 8], [9, 10, 8, 9, 10], [10, 8, 9], [8, 8, 10, 9, 9, 10],
    ];

    // Twelve random texts of 3 to 6 tokens: no obvious grouping, so a stage's features cluster differently from the dense model's.
    static readonly long[][] RandomTexts = RandomTokenTexts();

    static long[][] RandomTokenTexts()
    {
        var tokens = Tensor.Randint(1, 11, [12 * 6], generator: new Generator(8)).ToArray<long>();
        return Enumerable.Range(0, 12).Select(i => tokens.AsSpan(6 * i, 3 + i % 4).ToArray()).ToArray();
    }

    static Gpt Dense()
    {
        var dense = TinyGpt(layers: 2, seed: 4);
        ScrambleAll(dense, 40, 0.3);
        return dense;
    }

    static MultipletUpcyclingOptions Options(int experts = 3, int stageSteps = 2, int routerSteps = 0, int clusters = 2) =>
        new(Experts: experts, TopK: 2, ClustersPerStage: clusters, StageSteps: stageSteps, BatchSize: 4, StageLearningRate: 1e-2,
            RouterSteps: routerSteps, RouterLearningRate: 1e-2, Seed: 3);

    static Dictionary<string, double[]> Snapshot(Module m) => m.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());

    [Fact]
    public void Stage_ChangesOnlyTheFeedForwards_AndLeavesTheDenseModelAlone()
    {
        var dense = Dense();
        var before = Snapshot(dense);
        var stage = MultipletUpcycling.TrainStage(dense, Texts, [0, 0, 1, 0, 1, 1, 0, 1], Options(), 1);
        var after = Snapshot(stage);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (name, value) in before)
            if (!name.Contains(".mlp.")) Assert.True(value.SequenceEqual(after[name]), $"{name} changed");
        Assert.All(before.Keys.Where(n => n.Contains(".mlp.") && n.EndsWith("weight")), n => Assert.False(before[n].SequenceEqual(after[n]), $"{n} did not train"));
        Assert.All(Snapshot(dense), kv => Assert.True(kv.Value.SequenceEqual(before[kv.Key]), $"dense {kv.Key} changed"));
        Assert.Equal(dense.Config, stage.Config);
    }

    [Fact]
    public void AssembledMoe_OfUntrainedStages_EqualsTheDenseModel_WhateverTheRoutersLearn()
    {
        var dense = Dense();
        dense.Eval();
        // No stage steps: every FFN set is the dense one; the routers still train, and the upcycling identity holds.
        var result = MultipletUpcycling.Run(dense, Texts, Options(experts: 4, stageSteps: 0, routerSteps: 2));
        result.Moe.Eval();
        var ids = Ids(new long[,] { { 1, 4, 2, 9, 3, 3, 7 }, { 0, 5, 10, 2, 8, 6, 1 } });
        AssertClose(dense.Forward(ids), result.Moe.Forward(ids), 1e-5);
        Assert.Equal(new MoeOptions(4, TopK: 2, BalanceCoefficient: 0.01, ZLossCoefficient: 0), result.Moe.Config.Moe);
    }

    [Fact]
    public void Run_MakesDistinctExpertSets_FromTheDenseFfnAndFineTunedStages_Deterministically()
    {
        var dense = Dense();
        var options = Options(stageSteps: 12, routerSteps: 2, clusters: 3);
        var result = MultipletUpcycling.Run(dense, RandomTexts, options);
        var moe = result.Moe.StateDict();
        var denseState = dense.StateDict();
        Assert.Equal(3, result.Stages.Count);
        Assert.Same(dense, result.Stages[0]);
        Assert.Equal(2, result.PseudoLabels.Count);
        for (int block = 0; block < 2; block++)
        {
            var experts = Enumerable.Range(0, 3).Select(e => moe[$"blocks.{block}.moe.experts.{e}.fc.weight"].ToDoubleArray()).ToArray();
            Assert.Equal(denseState[$"blocks.{block}.mlp.fc.weight"].ToDoubleArray(), experts[0]);
            for (int e = 0; e < 3; e++)
                for (int f = e + 1; f < 3; f++) Assert.False(experts[e].SequenceEqual(experts[f]), $"block {block}: experts {e} and {f} are equal");
        }
        Assert.Equal(denseState["blocks.1.attn.qkv.weight"].ToDoubleArray(), moe["blocks.1.attn.qkv.weight"].ToDoubleArray());
        // Only the routers trained after assembly: the experts are the stages' FFNs exactly.
        Assert.Equal(result.Stages[2].StateDict()["blocks.1.mlp.proj.weight"].ToDoubleArray(), moe["blocks.1.moe.experts.2.proj.weight"].ToDoubleArray());
        // Stage 2 clusters stage 1's features (the dense model's would give other labels here) into the accumulated
        // pseudo-labels, and fine-tunes from the dense model, not from stage 1, as CLIP-MoE's readme runs each stage.
        var clusters = KMeans.Fit(MultipletUpcycling.Features(result.Stages[1], RandomTexts), 3, new Generator(3 + 2)).Labels;
        Assert.Equal(MultipletUpcycling.AccumulateLabels(result.PseudoLabels[0], clusters), result.PseudoLabels[1]);
        var denseClusters = KMeans.Fit(MultipletUpcycling.Features(dense, RandomTexts), 3, new Generator(3 + 2)).Labels;
        Assert.NotEqual(MultipletUpcycling.AccumulateLabels(result.PseudoLabels[0], denseClusters), result.PseudoLabels[1]);
        var stage2 = MultipletUpcycling.TrainStage(dense, RandomTexts, result.PseudoLabels[1], options, 2).StateDict();
        Assert.All(result.Stages[2].StateDict(), kv => Assert.Equal(kv.Value.ToDoubleArray(), stage2[kv.Key].ToDoubleArray()));
        var again = MultipletUpcycling.Run(Dense(), RandomTexts, options).Moe.StateDict();
        Assert.All(moe, kv => Assert.Equal(kv.Value.ToDoubleArray(), again[kv.Key].ToDoubleArray()));
    }

    [Fact]
    public void TrainRouters_ChangesOnlyTheRouters()
    {
        var moe = SparseUpcycling.FromFeedForwardCopies(Dense(), [Dense(), Dense()], new MoeOptions(2, TopK: 2), new Generator(2));
        var before = Snapshot(moe);
        MultipletUpcycling.TrainRouters(moe, Texts, Options(experts: 2, routerSteps: 2));
        var after = Snapshot(moe);
        foreach (var (name, value) in before)
            Assert.True(name.Contains(".router.") != value.SequenceEqual(after[name]), $"{name}: trained {!value.SequenceEqual(after[name])}");
    }

    [Fact]
    public void StageBatches_KeepEachPseudoLabelTogether_AndCoverEveryTextEachEpoch()
    {
        int[] groups = [2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1];
        var batches = MultipletUpcycling.Batches(12, 4, 6, new Generator(1), groups).ToList();
        // Two epochs of three batches; groups of four texts and batches of four: every batch is one whole group.
        for (int epoch = 0; epoch < 2; epoch++)
            Assert.Equal(Enumerable.Range(0, 12), batches.Skip(3 * epoch).Take(3).SelectMany(b => b).Order());
        Assert.All(batches, b => Assert.Single(b.Select(i => groups[i]).Distinct()));
        Assert.NotEqual(batches[0], batches[3]);
        // Batches of five cut across groups: at most two groups each, never two batches of one epoch sharing a text.
        var mixed = MultipletUpcycling.Batches(12, 5, 2, new Generator(1), groups).ToList();
        Assert.All(mixed, b => Assert.InRange(b.Select(i => groups[i]).Distinct().Count(), 1, 2));
        Assert.Empty(mixed[0].Intersect(mixed[1]));
    }

    [Fact]
    public void PseudoLabels_AreTheProductOfTheStagesClusterings()
    {
        var labels = MultipletUpcycling.AccumulateLabels([0, 0, 1, 1, 0], [1, 0, 1, 1, 1]);
        Assert.Equal([0, 1, 2, 2, 0], labels);
    }

    [Fact]
    public void MeanPooledEmbedding_IsTheMeanOverRealTokens_AndIgnoresTrailingPadding()
    {
        var gpt = Dense();
        gpt.Eval();
        var alone = MeanPooledEmbedding.Of(gpt, Ids(new long[,] { { 3, 5, 7 } }), Tensor.Ones(1, 3)).ToDoubleArray();
        var padded = MeanPooledEmbedding.Of(gpt, Ids(new long[,] { { 3, 5, 7, 0, 0 } }), Tensor.FromArray(new float[] { 1, 1, 1, 0, 0 }, [1, 5])).ToDoubleArray();
        AssertClose(alone, padded, 1e-6);
        var h = gpt.LastHiddenState(Ids(new long[,] { { 3, 5, 7 } })).ToDoubleArray();
        var naive = Enumerable.Range(0, 8).Select(c => (h[c] + h[8 + c] + h[16 + c]) / 3).ToArray();
        AssertClose(naive, alone, 1e-6);
        Assert.Contains("no real token", Assert.Throws<ArgumentException>(() => MeanPooledEmbedding.Pool(Randn(1, 1, 2, 8), Tensor.Zeros(1, 2))).Message);
    }

    [Fact]
    public void Options_AreChecked()
    {
        Assert.Contains("Experts 1", Assert.Throws<ArgumentException>(() => MultipletUpcycling.Run(Dense(), Texts, Options(experts: 1))).Message);
        Assert.Contains("text 0 has 0 tokens", Assert.Throws<ArgumentException>(() => MultipletUpcycling.Run(Dense(), [[], [1]], Options())).Message);
    }
}
