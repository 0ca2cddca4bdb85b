using Engine.Peft.Spectral;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Layers;

/// <summary>
/// The sparse-delta mechanism against a naive loop: dense form, merge by scatter-add (repeated positions accumulate,
/// as torch's index_add), gather, gradients of the values, and a SHiRA merge that leaves every entry off the support
/// bit-identical.
/// </summary>
public class SparseDeltaTests
{
    // Hard cases: a repeated position (3 twice), the first and the last entry, a zero value.
    static readonly long[] Flat = [3, 0, 11, 3, 7];
    static readonly double[] ValuesData = [1.5, -2, 0.25, 4, 0];

    static double[] NaiveDense(long[] flat, double[] values, int cells)
    {
        var dense = new double[cells];
        for (int k = 0; k < flat.Length; k++) dense[flat[k]] += values[k];
        return dense;
    }

    [Fact]
    public void Dense_PutsEachValueAtItsPosition_AndRepeatsAccumulate()
    {
        var dense = SparseDelta.Dense(Tensor.FromArray(ValuesData), Tensor.FromArray(Flat), 3, 4);
        Assert.Equal([3, 4], dense.Shape);
        Assert.Equal(NaiveDense(Flat, ValuesData, 12), dense.ToDoubleArray());
    }

    [Fact]
    public void AddTo_EqualsTheMatrixPlusTheDenseDelta_AndLeavesTheInputUnchanged()
    {
        var matrix = Randn64(4, 3, 4);
        var before = matrix.ToDoubleArray();
        var merged = SparseDelta.AddTo(matrix, Tensor.FromArray(Flat), Tensor.FromArray(ValuesData));
        var naive = NaiveDense(Flat, ValuesData, 12);
        Assert.Equal(before.Select((v, i) => v + naive[i]).ToArray(), merged.ToDoubleArray());
        Assert.Equal(before, matrix.ToDoubleArray());
        Assert.Throws<ArgumentException>(() => SparseDelta.AddTo(Tensor.Zeros(12), Tensor.FromArray(Flat), Tensor.FromArray(ValuesData)));
    }

    [Fact]
    public void Gather_And_FlatOf_And_Where_AgreeWithLoops()
    {
        var matrix = Randn64(5, 3, 4);
        var m = matrix.ToDoubleArray();
        Assert.Equal(Flat.Select(p => m[p]).ToArray(), SparseDelta.Gather(matrix, Tensor.FromArray(Flat)).ToDoubleArray());
        var pairs = Tensor.FromArray(new int[,] { { 0, 2, 1 }, { 3, 0, 1 } });
        Assert.Equal(new long[] { 3, 8, 5 }, SparseDelta.FlatOf(pairs, 4).ToArray<long>());
        Assert.Equal(Enumerable.Range(0, 12).Where(i => Math.Abs(m[i]) < 0.5).Select(i => (long)i).ToArray(), SparseDelta.Where(matrix, v => Math.Abs(v) < 0.5));
        Assert.Empty(SparseDelta.Where(matrix, _ => false));
    }

    [Fact]
    public void ValueGradients_AreTheDenseGradientGatheredAtThePositions()
    {
        var values = Tensor.FromArray(ValuesData).RequireGrad();
        var upstream = Randn64(6, 3, 4);
        (SparseDelta.Dense(values, Tensor.FromArray(Flat), 3, 4) * upstream).Sum().Backward();
        var u = upstream.ToDoubleArray();
        Assert.Equal(Flat.Select(p => u[p]).ToArray(), values.Grad!.ToDoubleArray());
    }

    [Fact]
    public void ShiraMerge_ByScatterAdd_ChangesOnlyTheSupport()
    {
        var layer = StandaloneLayer(l => new ShiraLayer(l), 8, 6, new ShiraConfig { R = 1, InitWeights = false });
        var before = layer.BaseLayer.Weight.ToDoubleArray();
        var support = layer.Positions("a").To(DType.Int64).ToArray<long>().ToHashSet();
        var delta = layer.DeltaWeight("a").ToDoubleArray();
        layer.Merge();
        var after = layer.BaseLayer.Weight.ToDoubleArray();
        for (int i = 0; i < before.Length; i++)
            if (support.Contains(i)) Assert.Equal(before[i] + delta[i], after[i], 12);
            else Assert.Equal(before[i], after[i]);
        layer.Unmerge();
        Assert.Equal(before, layer.BaseLayer.Weight.ToDoubleArray(), (a, b) => Math.Abs(a - b) < 1e-6);
    }
}
