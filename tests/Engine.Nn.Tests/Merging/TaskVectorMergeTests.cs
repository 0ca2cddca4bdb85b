using Engine.Nn.Merging;
using Xunit;

namespace Engine.Nn.Tests.Merging;

/// <summary>The state-dict merges on task vectors (task arithmetic, TIES, DARE, magnitude pruning) and their registry.</summary>
public class TaskVectorMergeTests
{
    static readonly double[] Base = [0.5, -1, 2, 0, 1, -0.25];

    // Three task vectors over 6 entries (one [2, 3] tensor "w").
    static readonly double[][] Tau =
    [
        [3, -1, 2, -4, 0.5, 1],
        [2, 5, 1, -1, 3, -0.5],
        [1, -2, -3, 2, -2, 0],
    ];

    static Dictionary<string, Tensor> Model(double[] values, long step = 7) => new()
    {
        ["w"] = Tensor.FromArray(values, [2, 3]),
        ["step"] = Tensor.FromArray(new[] { step }),
    };

    static IReadOnlyList<IReadOnlyDictionary<string, Tensor>> FineTuned(params double[][] taus) =>
        taus.Select(t => (IReadOnlyDictionary<string, Tensor>)Model(Base.Zip(t, (b, d) => b + d).ToArray())).ToList();

    static double[] MergedTaskVector(IStateDictMerge merge, params double[][] taus) =>
        merge.Merge(Model(Base), FineTuned(taus))["w"].ToDoubleArray().Zip(Base, (m, b) => m - b).ToArray();

    [Fact]
    public void Ties_TrimsElectsAndAveragesTheAgreeingEntries_ByHand()
    {
        // density 0.5: k = 3 per task vector.
        //   τ1 [3, −1, 2, −4, 0.5, 1]  → |·| top 3: −4, 3, 2         → [3, 0, 2, −4, 0, 0]
        //   τ2 [2, 5, 1, −1, 3, −0.5]  → top 3: 5, 3, 2              → [2, 5, 0, 0, 3, 0]
        //   τ3 [1, −2, −3, 2, −2, 0]   → top 3: −3, then three 2s: the lower indices 1 and 3 → [0, −2, −3, 2, 0, 0]
        // Total: sums [5, 3, −1, −2, 3, 0] elect [+, +, −, −, +, +]; agreeing entries: {3, 2}, {5}, {−3}, {−4}, {3}, none.
        //   mean → [2.5, 5, −3, −4, 3, 0]
        var total = MergedTaskVector(new TiesMerge(new MergeOptions(Density: 0.5)), Tau);
        AssertClose([2.5, 5, -3, -4, 3, 0], total, 1e-12);
        // Frequency: sign counts [2, 0, 0, 0, 1, 0] elect + everywhere: {3, 2}, {5}, {2}, {2}, {3}, none.
        var frequency = MergedTaskVector(new TiesMerge(new MergeOptions(Density: 0.5, MajoritySign: MajoritySignMethod.Frequency)), Tau);
        AssertClose([2.5, 5, 2, 2, 3, 0], frequency, 1e-12);
        // λ = [1, 1, 2]: signs are elected on the unweighted trimmed vectors (PEFT), so entry 3 stays − (−4 + 2 = −2)
        // although the weighted sum −4 + 4 = 0 would elect +; weighted entries: entry 2 becomes 2 · (−3).
        var weighted = MergedTaskVector(new TiesMerge(new MergeOptions(Weights: [1, 1, 2], Density: 0.5)), Tau);
        AssertClose([2.5, 5, -6, -4, 3, 0], weighted, 1e-12);
    }

    [Fact]
    public void MagnitudePrune_SumsTheTrimmedWeightedVectors_ByHand()
    {
        // The trimmed vectors of the TIES example, weighted 1, 0.5, 2: [3+1+0, 0+2.5−4, 2+0−6, −4+0+4, 0+1.5+0, 0].
        var merged = MergedTaskVector(new MagnitudePruneMerge(new MergeOptions(Weights: [1, 0.5, 2], Density: 0.5)), Tau);
        AssertClose([4, -1.5, -4, 0, 1.5, 0], merged, 1e-12);
    }

    [Fact]
    public void TaskArithmetic_OfOneModelWithWeightOne_ReturnsTheModel()
    {
        var baseModel = new Dictionary<string, Tensor> { ["a"] = TestSupport.Randn(1, 4, 5), ["b"] = TestSupport.Randn(2, 5) };
        var model = new Dictionary<string, Tensor> { ["a"] = TestSupport.Randn(3, 4, 5), ["b"] = TestSupport.Randn(4, 5) };
        var merged = new TaskArithmeticMerge(new MergeOptions()).Merge(baseModel, [model]);
        foreach (var name in model.Keys)
        {
            Assert.Equal(DType.Float32, merged[name].DType);
            Assert.Equal(model[name].ToArray<float>(), merged[name].ToArray<float>());
        }
    }

    [Fact]
    public void TaskArithmetic_IsTheWeightedSumOfTaskVectors()
    {
        var merged = MergedTaskVector(new TaskArithmeticMerge(new MergeOptions(Weights: [0.5, -1, 0.25])), Tau);
        var expected = Enumerable.Range(0, 6).Select(i => 0.5 * Tau[0][i] - Tau[1][i] + 0.25 * Tau[2][i]).ToArray();
        AssertClose(expected, merged, 1e-12);
    }

    [Fact]
    public void DareLinear_PreservesTheTaskVectorInExpectation()
    {
        // One model, λ = 1, p = 0.3: each entry is τ/p with probability p, else 0, so its mean over N seeds has
        // expectation τ and standard deviation |τ| sqrt((1 − p) / (p N)); 5 such deviations bound the error.
        const int n = 1000;
        const double p = 0.3;
        var sum = new double[6];
        for (ulong seed = 0; seed < n; seed++)
        {
            var merged = MergedTaskVector(new DareLinearMerge(new MergeOptions(Density: p, Seed: seed)), Tau[0]);
            for (int i = 0; i < 6; i++)
            {
                Assert.True(Math.Abs(merged[i]) < 1e-12 || Math.Abs(merged[i] - Tau[0][i] / p) < 1e-9, $"entry {i}: {merged[i]}");
                sum[i] += merged[i];
            }
        }
        for (int i = 0; i < 6; i++)
            Assert.InRange(sum[i] / n - Tau[0][i], -5 * Math.Abs(Tau[0][i]) * Math.Sqrt((1 - p) / (p * n)) - 1e-12, 5 * Math.Abs(Tau[0][i]) * Math.Sqrt((1 - p) / (p * n)) + 1e-12);
    }

    [Fact]
    public void Dare_IsReproducibleFromItsSeed_AndAtDensityOneIsTheUnprunedMerge()
    {
        var a = MergedTaskVector(new DareTiesMerge(new MergeOptions(Density: 0.5, Seed: 3)), Tau);
        Assert.Equal(a, MergedTaskVector(new DareTiesMerge(new MergeOptions(Density: 0.5, Seed: 3)), Tau));
        Assert.NotEqual(a, MergedTaskVector(new DareTiesMerge(new MergeOptions(Density: 0.5, Seed: 4)), Tau));
        AssertClose(MergedTaskVector(new TaskArithmeticMerge(new MergeOptions()), Tau), MergedTaskVector(new DareLinearMerge(new MergeOptions(Density: 1)), Tau), 1e-12);
        AssertClose(MergedTaskVector(new TiesMerge(new MergeOptions(Density: 1)), Tau), MergedTaskVector(new DareTiesMerge(new MergeOptions(Density: 1)), Tau), 1e-12);
    }

    [Fact]
    public void IntegerTensors_AreCopiedWhenEqual_AndRefusedWhenTheyDiffer()
    {
        var merged = new TiesMerge(new MergeOptions()).Merge(Model(Base), FineTuned(Tau));
        Assert.Equal(DType.Int64, merged["step"].DType);
        Assert.Equal([7L], merged["step"].ToArray<long>());
        var other = Model(Base, step: 8);
        var e = Assert.Throws<ArgumentException>(() => new TaskArithmeticMerge(new MergeOptions()).Merge(Model(Base), [Model(Base), other]));
        Assert.Contains("task_arithmetic", e.Message);
        Assert.Contains("'step'", e.Message);
        Assert.Contains("model 1", e.Message);
    }

    [Fact]
    public void BadInputs_AreRefusedNamingTheMethodAndTensor()
    {
        var baseModel = Model(Base);
        var wrongShape = new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray(Base, [3, 2]), ["step"] = Tensor.FromArray(new[] { 7L }) };
        var e = Assert.Throws<ArgumentException>(() => new TiesMerge(new MergeOptions()).Merge(baseModel, [wrongShape]));
        Assert.Contains("ties", e.Message);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("[3,2]", e.Message);
        var renamed = new Dictionary<string, Tensor> { ["v"] = Tensor.FromArray(Base, [2, 3]), ["step"] = Tensor.FromArray(new[] { 7L }) };
        Assert.Contains("missing [w]", Assert.Throws<ArgumentException>(() => new DareTiesMerge(new MergeOptions()).Merge(baseModel, [renamed])).Message);
        Assert.Contains("2 weights for 3 models", Assert.Throws<ArgumentException>(() => new TaskArithmeticMerge(new MergeOptions(Weights: [1, 1])).Merge(baseModel, FineTuned(Tau))).Message);
        Assert.Contains("density", Assert.Throws<ArgumentException>(() => new MagnitudePruneMerge(new MergeOptions(Density: 1.2)).Merge(baseModel, FineTuned(Tau))).Message);
        Assert.Contains("no models", Assert.Throws<ArgumentException>(() => new TiesMerge(new MergeOptions()).Merge(baseModel, [])).Message);
    }

    [Fact]
    public void Registry_BuildsEveryMethodUnderItsName_AndListsTheNamesWhenOneIsUnknown()
    {
        foreach (var entry in StateDictMerges.All)
        {
            var merge = entry.Create(new MergeOptions());
            Assert.Equal(entry.Name, merge.Name);
            Assert.Same(entry, StateDictMerges.ByName(entry.Name));
        }
        Assert.Equal(StateDictMerges.All.Count, StateDictMerges.All.Select(e => e.Name).Distinct().Count());
        var e = Assert.Throws<ArgumentException>(() => StateDictMerges.ByName("tie"));
        Assert.Contains("'tie'", e.Message);
        Assert.Contains("task_arithmetic, ties, dare_linear, dare_ties, magnitude_prune", e.Message);
        // The defaults that the class comments cite.
        Assert.Equal(0.2, new TiesMerge(new MergeOptions()).Density);
        Assert.Equal(0.2, new DareTiesMerge(new MergeOptions()).Density);
        Assert.Equal(0.7, new DareLinearMerge(new MergeOptions(Density: 0.7)).Density);
        Assert.Equal(1, new TaskArithmeticMerge(new MergeOptions(Density: 0.7)).Density);
    }
}
