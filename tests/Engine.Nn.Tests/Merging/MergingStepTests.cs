using Engine.Nn.Merging;
using Xunit;

namespace Engine.Nn.Tests.Merging;

/// <summary>The steps the task-vector merges are built from: magnitude pruning, DARE's drop and rescale, sign election, disjoint mean.</summary>
public class MergingStepTests
{
    static Tensor Vector(params double[] values) => Tensor.FromArray(values);

    [Fact]
    public void MagnitudePruning_KeepsExactlyTheKLargest_EqualMagnitudesByLowerIndex()
    {
        var x = Vector(0, -3, 3, 1, 0, -1, 2);
        // k = int(d · 7). k = 3: |−3| and |3| (indices 1, 2), then 2 (index 6).
        Assert.Equal([0, -3, 3, 0, 0, 0, 2], MagnitudePruning.Prune(x, 0.5).ToDoubleArray());
        // k = 4: the two magnitudes 1 tie (indices 3 and 5); the lower index stays.
        Assert.Equal([0, -3, 3, 1, 0, 0, 2], MagnitudePruning.Prune(x, 0.6).ToDoubleArray());
        // k = 6 > 5 non-zeros: a kept zero is still zero, so every value survives.
        Assert.Equal(x.ToDoubleArray(), MagnitudePruning.Prune(x, 0.86).ToDoubleArray());
        Assert.Equal(new double[7], MagnitudePruning.Prune(x, 0).ToDoubleArray());
        Assert.Equal(x.ToDoubleArray(), MagnitudePruning.Prune(x, 1).ToDoubleArray());
    }

    [Fact]
    public void MagnitudePruning_OfRandomValues_KeepsTheTopFractionAndShapeAndDType()
    {
        var x = TestSupport.Randn(3, 10, 10);
        var pruned = MagnitudePruning.Prune(x, 0.3);
        Assert.Equal(x.Shape, pruned.Shape);
        Assert.Equal(DType.Float32, pruned.DType);
        var (before, after) = (x.ToDoubleArray(), pruned.ToDoubleArray());
        var kept = Enumerable.Range(0, 100).Where(i => after[i] != 0).ToList();
        Assert.Equal(30, kept.Count);
        foreach (var i in kept) Assert.Equal(before[i], after[i]);
        double smallestKept = kept.Min(i => Math.Abs(before[i]));
        Assert.All(Enumerable.Range(0, 100).Except(kept), i => Assert.True(Math.Abs(before[i]) <= smallestKept));
    }

    [Fact]
    public void RandomPruning_KeepsEntriesOrZeroesThem_AndRescalesByOneOverDensity()
    {
        var x = TestSupport.Randn64(5, 400);
        var pruned = RandomPruning.Prune(x, 0.25, rescale: true, new Generator(9)).ToDoubleArray();
        var values = x.ToDoubleArray();
        int kept = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (pruned[i] == 0) continue;
            kept++;
            AssertClose(values[i] / 0.25, pruned[i], 1e-12);
        }
        // Binomial(400, 0.25): mean 100, standard deviation 8.7; 5 σ either side.
        Assert.InRange(kept, 57, 143);
        Assert.Equal(pruned, RandomPruning.Prune(x, 0.25, rescale: true, new Generator(9)).ToDoubleArray());
        var unscaled = RandomPruning.Prune(x, 0.25, rescale: false, new Generator(9)).ToDoubleArray();
        AssertClose(pruned.Select(v => v * 0.25).ToArray(), unscaled, 1e-12);
    }

    [Fact]
    public void MajoritySign_TotalUsesTheSum_FrequencyTheCount_ZerosNeverAgree()
    {
        // Position 0: signs +, −, − with sum +2 (total elects +, frequency −). Position 1: all 0, elected + by the ≥ 0 rule.
        var stacked = Tensor.FromArray(new double[,] { { 5, 0 }, { -1, 0 }, { -2, 0 } });
        Assert.Equal([true, false, false, false, false, false], MajoritySignMask.Of(stacked, MajoritySignMethod.Total).ToArray<bool>());
        Assert.Equal([false, false, true, false, true, false], MajoritySignMask.Of(stacked, MajoritySignMethod.Frequency).ToArray<bool>());
    }

    [Fact]
    public void DisjointMerge_AveragesTheAgreeingEntries_ZeroWhereNone()
    {
        var stacked = Tensor.FromArray(new double[,] { { 4, 1 }, { 2, 7 } });
        var mask = Tensor.FromArray(new bool[,] { { true, false }, { true, false } });
        Assert.Equal([3, 0], DisjointMerge.Mean(stacked, mask).ToDoubleArray());
        Assert.Throws<ArgumentException>(() => DisjointMerge.Mean(stacked, mask.Reshape(4)));
    }

    [Fact]
    public void Density_OutsideZeroToOne_OrZeroForDare_IsRefusedByName()
    {
        var x = Vector(1, 2);
        Assert.Contains("MagnitudePruning", Assert.Throws<ArgumentException>(() => MagnitudePruning.Prune(x, 1.5)).Message);
        Assert.Contains("RandomPruning", Assert.Throws<ArgumentException>(() => RandomPruning.Prune(x, -0.1, true, new Generator(1))).Message);
        Assert.Contains("1/density", Assert.Throws<ArgumentException>(() => RandomPruning.Prune(x, 0, true, new Generator(1))).Message);
        Assert.Contains("generator", Assert.Throws<ArgumentException>(() => TaskVectorCombination.Combine(TaskVectorMethod.DareTies, [x], [1.0], 0.5)).Message);
        Assert.Contains("shape", Assert.Throws<ArgumentException>(() => TaskVectorCombination.Combine(TaskVectorMethod.Ties, [x, Vector(1, 2, 3)], [1.0, 1.0], 0.5)).Message);
    }
}
