using Engine.Nn.Merging;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Merging;

/// <summary>FuseChat's VaRM, the paper's formula (spec adapters-other.md 20, pitfall 8).</summary>
public class VarmMergeTests
{
    static Tensor V(params double[] values) => Tensor.FromArray(values);

    [Fact]
    public void HandCase_WeightsFollowTheSquaredChange()
    {
        // Δθ_1 = [1, 1] (mean square 1), Δθ_2 = [2, 0] (mean square 2): W = [1/3, 2/3], not the scripts' [1/2, 1/2].
        var pivot = new Dictionary<string, Tensor> { ["w"] = V(1, 2) };
        var t1 = new Dictionary<string, Tensor> { ["w"] = V(2, 3) };
        var t2 = new Dictionary<string, Tensor> { ["w"] = V(3, 2) };

        AssertClose([1.0 / 3, 2.0 / 3], VarmMerge.MatrixWeights(pivot["w"], [t1["w"], t2["w"]]), 1e-15);
        var merged = new VarmMerge().Merge(pivot, [t1, t2]);
        AssertClose([2.0 / 3 + 2, 1 + 4.0 / 3], merged["w"].ToDoubleArray(), 1e-15);
    }

    [Fact]
    public void Weights_SumToOnePerMatrix()
    {
        var pivot = Randn64(1, 4, 5);
        var targets = new[] { 2UL, 3UL, 4UL }.Select(s => pivot + Randn64(s, 4, 5) * (0.1 * s)).ToList();
        var w = VarmMerge.MatrixWeights(pivot, targets);
        Assert.Equal(1.0, w.Sum(), 12);
        Assert.All(w, x => Assert.InRange(x, 0.0, 1.0));
        // No target moved the matrix: uniform rather than 0/0.
        Assert.Equal([0.5, 0.5], VarmMerge.MatrixWeights(pivot, [pivot, pivot]));
    }

    [Fact]
    public void IdenticalTargets_GiveThatTarget()
    {
        var pivot = new Dictionary<string, Tensor> { ["w"] = Randn64(5, 3, 3), ["b"] = Randn64(6, 3) };
        var target = pivot.ToDictionary(kv => kv.Key, kv => kv.Value + Randn64(7, kv.Value.Shape));
        var merged = new VarmMerge().Merge(pivot, [target, target, target]);
        foreach (var (name, t) in target) AssertClose(t, merged[name], 1e-14, name);
    }

    [Fact]
    public void BadInput_IsNamed()
    {
        Assert.Contains("varm: no models", Assert.Throws<ArgumentException>(() => VarmMerge.MatrixWeights(V(1), [])).Message);
        Assert.Contains("varm: 'matrix' of model 0", Assert.Throws<ArgumentException>(() => VarmMerge.MatrixWeights(V(1), [V(1, 2)])).Message);
    }
}
