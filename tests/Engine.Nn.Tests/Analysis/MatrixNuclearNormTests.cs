using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Engine.Nn.Tests;

/// <summary>
/// The Matrix Nuclear-Norm metric (spec structure-and-optimizers.md §4.4) against its oracles: the exact nuclear norm
/// from MathNet's SVD when the normalised columns are orthogonal, invariance to the token order, unit rows
/// (Σ c_j² = T and MNN/T ≤ √(D/T)), a naive re-computation, and the degenerate single-token response.
/// </summary>
public class MatrixNuclearNormTests
{
    static Tensor Random(ulong seed, int t, int h) => Tensor.Randn([t, h], dtype: DType.Float64, generator: new Generator(seed));

    // Centre columns, unit rows, by plain loops over a MathNet matrix (independent of the engine's code).
    static Matrix<double> NaiveNormalized(Tensor r)
    {
        var m = Matrix<double>.Build.DenseOfRowMajor(r.Size(0), r.Size(1), r.ToDoubleArray());
        var centred = Matrix<double>.Build.Dense(m.RowCount, m.ColumnCount, (i, j) => m[i, j] - m.Column(j).Average());
        return Matrix<double>.Build.Dense(m.RowCount, m.ColumnCount, (i, j) => centred[i, j] / centred.Row(i).L2Norm());
    }

    [Fact]
    public void OrthogonalNormalizedColumns_SumEqualsTheExactNuclearNorm()
    {
        // Three non-constant columns of the 8×8 Sylvester-Hadamard matrix: zero mean, mutually orthogonal, and each row
        // (±1, ±1, ±1) has norm √3; an offset per column and a common scale vanish in the normalisation.
        int[] columns = [1, 2, 4];
        var values = new double[8 * 3];
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 3; j++)
                values[i * 3 + j] = 5.0 * (int.PopCount(i & columns[j]) % 2 == 0 ? 1 : -1) + (j + 1) * 0.75;
        var r = Tensor.FromArray(values, [8, 3]);
        var normalized = NaiveNormalized(r);
        Assert.True((normalized.Transpose() * normalized - Matrix<double>.Build.DenseDiagonal(3, 8.0 / 3)).FrobeniusNorm() < 1e-12, "orthogonal columns");
        double nuclear = normalized.Svd().S.Sum();
        AssertClose(nuclear, MatrixNuclearNorm.Sum(r), 1e-12, "Σ c_j vs Σ σ_j");
        AssertClose(3 * Math.Sqrt(8.0 / 3), nuclear, 1e-12, "by hand: three columns of norm √(8/3)");
        AssertClose(nuclear / 8, MatrixNuclearNorm.PerToken(r), 1e-12, "per token");
    }

    [Fact]
    public void PermutingTokens_LeavesTheScoreUnchanged()
    {
        var r = Random(1, 7, 5);
        int[] order = [3, 0, 6, 1, 5, 2, 4];
        var values = r.ToDoubleArray();
        var permuted = Tensor.FromArray(order.SelectMany(i => values.Skip(i * 5).Take(5)).ToArray(), [7, 5]);
        AssertClose(MatrixNuclearNorm.PerToken(r), MatrixNuclearNorm.PerToken(permuted), 1e-12);
    }

    [Theory]
    [InlineData(9, 4)]
    [InlineData(3, 8)]
    [InlineData(6, 6)]
    public void UnitRows_ColumnSquaresSumToT_AndTheScoreIsBoundedBySqrtDOverT(int t, int h)
    {
        for (ulong seed = 1; seed <= 3; seed++)
        {
            var r = Random(seed, t, h);
            var normalized = MatrixNuclearNorm.Normalize(r).ToDoubleArray();
            AssertClose(t, normalized.Sum(v => v * v), 1e-10, "Σ_j c_j² = Σ_i ‖row_i‖² = T");
            int d = Math.Min(t, h);
            double score = MatrixNuclearNorm.PerToken(r);
            Assert.True(score > 0 && score <= Math.Sqrt((double)d / t) + 1e-12, $"MNN/T {score} vs √(D/T) {Math.Sqrt((double)d / t)}");
            // Naive: the D largest column norms of the normalised matrix.
            var naive = NaiveNormalized(r).EnumerateColumns().Select(c => c.L2Norm()).OrderDescending().Take(d).Sum() / t;
            AssertClose(naive, score, 1e-12, "naive top-D column norms / T");
        }
    }

    [Fact]
    public void SingleToken_IsNaN_AndTheDatasetAverageSkipsIt()
    {
        // T = 1: the centred row is zero and the reference's 0/0 gives NaN; so does a repeated token (T = 2, equal rows).
        Assert.True(double.IsNaN(MatrixNuclearNorm.PerToken(Random(1, 1, 4))));
        var twice = Tensor.FromArray(new double[] { 1, 2, 3, 1, 2, 3 }, [2, 3]);
        Assert.True(double.IsNaN(MatrixNuclearNorm.PerToken(twice)));
        Assert.Equal(2.0, MatrixNuclearNorm.DatasetAverage([1.0, double.NaN, 3.0]));
        Assert.True(double.IsNaN(MatrixNuclearNorm.DatasetAverage([double.NaN])));
        // Two distinct tokens: centred rows ±d/2, unit rows ±d/‖d‖; column norms √2·|d_j|/‖d‖, top-2 summed, over T = 2.
        var pair = Tensor.FromArray(new double[] { 0, 0, 0, 3, 4, 0 }, [2, 3]);
        AssertClose((Math.Sqrt(2) * 4 / 5 + Math.Sqrt(2) * 3 / 5) / 2, MatrixNuclearNorm.PerToken(pair), 1e-12, "by hand");
    }

    [Fact]
    public void NotAMatrix_IsRefusedNamingTheShape()
    {
        var e = Assert.Throws<ArgumentException>(() => MatrixNuclearNorm.Sum(Tensor.Zeros(2, 3, 4)));
        Assert.Contains("MatrixNuclearNorm", e.Message);
        Assert.Contains("[2,3,4]", e.Message);
        Assert.Throws<ArgumentException>(() => MatrixNuclearNorm.Sum(Tensor.Zeros(0, 3)));
    }
}
