using Engine.Nn.Compression;
using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Engine.Nn.Tests.Compression;

/// <summary>
/// FWSVD against the spec's oracles (structure-and-optimizers.md §4.3), with MathNet's SVD as the independent
/// reference: uniform Fisher is plain truncated SVD (Eckart–Young error √Σ_{i>r} s_i²), full rank reconstructs
/// exactly, and a row whose Fisher is scaled by 10⁶ is reconstructed almost exactly.
/// </summary>
public class FisherWeightedSvdTests
{
    const int Rows = 12, Cols = 9;

    static Matrix<double> RandomMatrix(int seed)
    {
        var random = new Random(seed);
        return Matrix<double>.Build.Dense(Rows, Cols, (_, _) => random.NextDouble() * 2 - 1);
    }

    static Matrix<double> Product(Tensor a, Tensor b) =>
        Matrix<double>.Build.DenseOfRowMajor(a.Size(0), a.Size(1), a.ToDoubleArray()) * Matrix<double>.Build.DenseOfRowMajor(b.Size(0), b.Size(1), b.ToDoubleArray());

    static Tensor ToTensor(Matrix<double> m) => Tensor.FromArray(m.ToRowMajorArray(), [m.RowCount, m.ColumnCount]);

    [Theory]
    [InlineData(null)]
    [InlineData(3.5)]
    public void UniformFisher_IsTruncatedSvd(double? fisher)
    {
        const int r = 4;
        var w = RandomMatrix(1);
        var importance = fisher is { } f ? Enumerable.Repeat(f, Rows).ToArray() : null;
        var (a, b) = FisherWeightedSvd.Factorise(ToTensor(w), importance, r);
        var s = w.Svd(computeVectors: true);
        double eckartYoung = Math.Sqrt(s.S.Skip(r).Sum(v => v * v));
        AssertClose(eckartYoung, (w - Product(a, b)).FrobeniusNorm(), 1e-10);
        var truncated = s.U.SubMatrix(0, Rows, 0, r) * Matrix<double>.Build.DenseOfDiagonalArray(s.S.SubVector(0, r).ToArray()) * s.VT.SubMatrix(0, r, 0, Cols);
        AssertClose(truncated.ToRowMajorArray(), Product(a, b).ToRowMajorArray(), 1e-10);
    }

    [Fact]
    public void FullRank_ReconstructsExactly()
    {
        var w = RandomMatrix(2);
        var importance = Enumerable.Range(0, Rows).Select(i => 0.1 + i * i).ToArray();
        var (a, b) = FisherWeightedSvd.Factorise(ToTensor(w), importance, Cols);
        AssertClose(w.ToRowMajorArray(), Product(a, b).ToRowMajorArray(), 1e-10);
    }

    [Fact]
    public void OneRowScaledByAMillion_ThatRowsErrorGoesToZero()
    {
        const int r = 2, row = 5;
        var w = RandomMatrix(3);
        var importance = Enumerable.Repeat(1.0, Rows).ToArray();
        double RowError((Tensor A, Tensor B) f) => (w.Row(row) - Product(f.A, f.B).Row(row)).L2Norm();
        double before = RowError(FisherWeightedSvd.Factorise(ToTensor(w), importance, r));
        importance[row] *= 1e6;
        double after = RowError(FisherWeightedSvd.Factorise(ToTensor(w), importance, r));
        Assert.True(before > 0.1, $"the row's plain error {before} should be visible");
        Assert.True(after < 1e-5 * before, $"row error {after} after weighting, {before} before");
    }

    [Fact]
    public void Columns_OneColumnScaledByAMillion_ThatColumnsErrorGoesToZero_AndUniformIsSvd()
    {
        const int r = 2, column = 3;
        var w = RandomMatrix(5);
        var importance = Enumerable.Repeat(1.0, Cols).ToArray();
        var (a0, b0) = FisherWeightedSvd.FactoriseColumns(ToTensor(w), importance, r);
        AssertClose(Math.Sqrt(w.Svd().S.Skip(r).Sum(v => v * v)), (w - Product(a0, b0)).FrobeniusNorm(), 1e-10);
        double before = (w.Column(column) - Product(a0, b0).Column(column)).L2Norm();
        importance[column] *= 1e6;
        var (a, b) = FisherWeightedSvd.FactoriseColumns(ToTensor(w), importance, r);
        Assert.Equal(new[] { Rows, r }, a.Shape);
        double after = (w.Column(column) - Product(a, b).Column(column)).L2Norm();
        Assert.True(after < 1e-5 * before, $"column error {after} after weighting, {before} before");
    }

    [Fact]
    public void ColumnImportance_SumsEachColumn() =>
        AssertClose(new[] { 5.0, 7.0, 3.0 }, FisherWeightedSvd.ColumnImportance(Tensor.FromArray(new double[] { 1, 2, 0, 4, 5, 3 }, [2, 3])), 0);

    [Fact]
    public void RowImportance_SumsEachRow() =>
        AssertClose(new[] { 3.0, 12.0 }, FisherWeightedSvd.RowImportance(Tensor.FromArray(new double[] { 1, 2, 0, 4, 5, 3 }, [2, 3])), 0);

    [Fact]
    public void BadInput_IsNamedError()
    {
        var w = ToTensor(RandomMatrix(4));
        Assert.Contains("rank must be 1..9", Assert.Throws<ArgumentException>(() => FisherWeightedSvd.Factorise(w, null, 10)).Message);
        Assert.Contains("3 row importances", Assert.Throws<ArgumentException>(() => FisherWeightedSvd.Factorise(w, [1, 2, 3], 2)).Message);
        Assert.Contains("non-negative", Assert.Throws<ArgumentException>(() => FisherWeightedSvd.Factorise(w, Enumerable.Repeat(-1.0, Rows).ToArray(), 2)).Message);
    }
}
