using Engine.Nn.Merging;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Merging;

/// <summary>FuseChat-2's SCE (spec adapters-other.md 20; reference FuseAI <c>mergekit/merge_methods/sce_merging.py</c>).</summary>
public class SceMergeTests
{
    static Dictionary<string, Tensor> Sd(params double[] values) => new() { ["w"] = Tensor.FromArray(values) };

    [Fact]
    public void IdenticalTargets_GiveThatTarget()
    {
        var pivot = new Dictionary<string, Tensor> { ["w"] = Randn64(1, 4, 3), ["b"] = Randn64(2, 3) };
        var target = pivot.ToDictionary(kv => kv.Key, kv => kv.Value + Randn64(3, kv.Value.Shape));
        var merged = new SceMerge().Merge(pivot, [target, target, target]);
        foreach (var (name, t) in target) AssertClose(t, merged[name], 1e-14, name);
    }

    [Fact]
    public void Erase_HandCase()
    {
        // No selection (select_topk 1): w ∝ mean δ² = 7/5 and 16/5, so w = [7/23, 16/23].
        var pivot = Sd(1, 1, 1, 1, 1);
        var t1 = Sd(2, 0, 3, 1, 2);  // δ_1 = [ 1, -1, 2, 0,  1]
        var t2 = Sd(-2, 3, 2, 2, 0); // δ_2 = [-3,  2, 1, 1, -1]
        var merged = new SceMerge(new MergeOptions(Density: 1)).Merge(pivot, [t1, t2]);
        // Σδ = [-2, 1, 3, 1, 0]: majority -, +, +, +, + (0 counts as +). Entry 0 keeps only δ_2; entry 1 only δ_2;
        // entry 2 both (7/23·2 + 16/23·1); entry 3 only δ_2 (a zero δ is erased); entry 4 only δ_1.
        AssertClose([1 - 3, 1 + 2, 1 + 30.0 / 23, 1 + 1, 1 + 1], merged["w"].ToDoubleArray(), 1e-14);
    }

    [Fact]
    public void Select_WeighsOnlyTheTopVariancePositions()
    {
        var pivot = Sd(0, 0, 0, 0);
        var t1 = Sd(1, 0, 3, 0); // δ_1
        var t2 = Sd(2, 2, -1, 0); // δ_2; variances 0.25, 1, 4, 0: three non-zero, k = ⌊0.5·3⌋ = 1, position 2
        // Masked: [0, 0, 3, 0] and [0, 0, -1, 0], so w = [0.9, 0.1]; entry 0 keeps both: 0.9·1 + 0.1·2.
        var selected = new SceMerge(new MergeOptions(Density: 0.5)).Merge(pivot, [t1, t2]);
        AssertClose([1.1, 2, 3, 0], selected["w"].ToDoubleArray(), 1e-14);
        // Without selection w ∝ [10/4, 9/4]: entry 0 becomes (10·1 + 9·2)/19.
        var all = new SceMerge(new MergeOptions(Density: 1)).Merge(pivot, [t1, t2]);
        AssertClose([28.0 / 19, 2, 3, 0], all["w"].ToDoubleArray(), 1e-14);
        Assert.Equal(SceMerge.DefaultSelectTopK, new SceMerge().SelectTopK);
    }

    [Fact]
    public void BadInput_IsNamed()
    {
        Assert.Contains("sce: select_topk", Assert.Throws<ArgumentException>(() => new SceMerge(new MergeOptions(Density: 1.5))).Message);
        Assert.Contains("sce: no models", Assert.Throws<ArgumentException>(() => new SceMerge().Merge(Sd(1), [])).Message);
    }
}
