using Xunit;

namespace Engine.Nn.Tests;

/// <summary>
/// The update-sparsity report (spec structure-and-optimizers.md 5.2): changed fractions counted against a naive loop,
/// update ranks against updates built from a known number of outer products.
/// </summary>
public class UpdateSparsityTests
{
    static Tensor Matrix(ulong seed, int m, int n) => Tensor.Randn([m, n], generator: new Generator(seed));

    [Fact]
    public void IdenticalStateDicts_ChangeNothing()
    {
        var a = new Dictionary<string, Tensor> { ["w"] = Matrix(1, 5, 7), ["b"] = Tensor.Zeros(7), ["empty"] = Tensor.Zeros(0, 3) };
        var report = UpdateSparsity.Compare(a, a.ToDictionary(kv => kv.Key, kv => kv.Value.Clone()), tolerance: 0);
        Assert.Equal(0, report.Changed);
        Assert.Equal(0, report.FractionChanged);
        Assert.All(report.Tensors, t => Assert.True(t.UpdateRank is null or 0));
        Assert.Equal(35 + 7, report.Elements);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void ALowRankUpdate_HasThatRank_AndEveryEntryChanged(int rank)
    {
        var w = Matrix(2, 8, 6);
        var update = Tensor.Zeros(8, 6);
        for (int k = 0; k < rank; k++) update = update + Matrix(10 + (ulong)k, 8, 1) % Matrix(20 + (ulong)k, 1, 6);
        var report = UpdateSparsity.Compare(new Dictionary<string, Tensor> { ["w"] = w }, new Dictionary<string, Tensor> { ["w"] = w + update });
        var row = Assert.Single(report.Tensors);
        Assert.Equal(rank, row.UpdateRank);
        Assert.Equal(6, row.FullRank);
        // A naive count of the entries whose change exceeds the tolerance.
        long expected = update.ToDoubleArray().Count(v => Math.Abs(v) > 1e-5);
        Assert.Equal(expected, row.Changed);
    }

    [Fact]
    public void SparseChanges_AreCountedExactly_WithTheTolerance()
    {
        var w = Tensor.Zeros(4, 5);
        var after = w.ToDoubleArray();
        after[0] = 1;       // changed
        after[7] = 1e-6;    // below the tolerance
        after[19] = -2e-5;  // above it
        var report = UpdateSparsity.Compare(new Dictionary<string, Tensor> { ["w"] = w }, new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray(after.Select(v => (float)v).ToArray(), [4, 5]) }, tolerance: 1e-5);
        var row = Assert.Single(report.Tensors);
        Assert.Equal(2, row.Changed);
        Assert.Equal(0.1, row.FractionChanged, 12);
        // The rank is the raw update's (torch.linalg.matrix_rank): the change below the tolerance is still a direction.
        Assert.Equal(3, row.UpdateRank);
        // Tolerance 0 counts the small change too.
        Assert.Equal(3, UpdateSparsity.Compare(new Dictionary<string, Tensor> { ["w"] = w }, new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray(after.Select(v => (float)v).ToArray(), [4, 5]) }, tolerance: 0).Changed);
    }

    [Fact]
    public void DifferentNamesOrShapes_AreRefusedNamingThem()
    {
        var a = new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros(2, 3), ["only.first"] = Tensor.Zeros(1) };
        var b = new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros(2, 3), ["only.second"] = Tensor.Zeros(1) };
        var ex = Assert.Throws<ArgumentException>(() => UpdateSparsity.Compare(a, b));
        Assert.Contains("only.first", ex.Message);
        Assert.Contains("only.second", ex.Message);
        var shape = Assert.Throws<ArgumentException>(() => UpdateSparsity.Compare(new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros(2, 3) }, new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros(3, 2) }));
        Assert.Contains("'w'", shape.Message);
        Assert.Contains("[3,2]", shape.Message);
        Assert.Throws<ArgumentException>(() => UpdateSparsity.Compare(a, a, tolerance: -1));
        Assert.Throws<ArgumentException>(() => UpdateSparsity.Compare(a, a, tolerance: double.NaN));
    }

    [Fact]
    public void NaNs_CountAsChangedUnlessBothSidesAreNaN()
    {
        var before = Tensor.FromArray(new[] { float.NaN, float.NaN, 1f }, [3]);
        var after = Tensor.FromArray(new[] { float.NaN, 2f, float.NaN }, [3]);
        var report = UpdateSparsity.Compare(new Dictionary<string, Tensor> { ["v"] = before }, new Dictionary<string, Tensor> { ["v"] = after });
        Assert.Equal(2, report.Changed);
    }
}
