using Engine.Nn.Compression;
using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Engine.Nn.Tests.Compression;

/// <summary>
/// BitStack's decomposition against the spec's oracles (adapters-other.md §17): ‖R_i‖_F is non-increasing, and with all
/// n blocks the reconstruction error is ‖R_n‖_F, up to the fp16 rounding of the stored factors. R_i is recomputed here
/// from the definition with MathNet's SVD in double (an independent oracle; u vᵀ = U_k Σ_k V_kᵀ is sign-free).
/// </summary>
public class BitStackDecompositionTests
{
    const int Rows = 24, Cols = 16, Blocks = 8, Rank = 2;

    static Matrix<double> RandomMatrix(int seed)
    {
        var random = new Random(seed);
        return Matrix<double>.Build.Dense(Rows, Cols, (_, _) => random.NextDouble() * 2 - 1);
    }

    static Tensor ToTensor(Matrix<double> m) => Tensor.FromArray(m.ToRowMajorArray(), [m.RowCount, m.ColumnCount]);

    // The definition: S = sign(R) (0 → +1); |R| ≈ U_k Σ_k V_kᵀ; R ← R − S ⊙ that. Returns the magnitude products and ‖R_i‖.
    static (List<Matrix<double>> Magnitudes, List<double> Norms) Reference(Matrix<double> w, int blocks, int k)
    {
        var r = w.Clone();
        var magnitudes = new List<Matrix<double>>();
        var norms = new List<double> { r.FrobeniusNorm() };
        for (int i = 0; i < blocks; i++)
        {
            var svd = r.PointwiseAbs().Svd(computeVectors: true);
            var m = svd.U.SubMatrix(0, Rows, 0, k) * Matrix<double>.Build.DenseOfDiagonalArray(svd.S.SubVector(0, k).ToArray()) * svd.VT.SubMatrix(0, k, 0, Cols);
            magnitudes.Add(m);
            r = r - r.Map(v => v >= 0 ? 1.0 : -1.0).PointwiseMultiply(m);
            norms.Add(r.FrobeniusNorm());
        }
        return (magnitudes, norms);
    }

    [Fact]
    public void ResidualNorms_AreNonIncreasing_AndMatchTheDefinition()
    {
        var w = RandomMatrix(1);
        var decomposed = BitStackDecomposition.Decompose("w", ToTensor(w), Blocks, Rank);
        var (_, expected) = Reference(w, Blocks, Rank);
        Assert.Equal(Blocks + 1, decomposed.ResidualNorms.Count);
        for (int i = 0; i <= Blocks; i++) AssertClose(expected[i], decomposed.ResidualNorms[i], 1e-9 * expected[0], $"‖R_{i}‖");
        for (int i = 1; i <= Blocks; i++) Assert.True(expected[i] <= expected[i - 1] + 1e-12, $"‖R_{i}‖ = {expected[i]} > ‖R_{i - 1}‖ = {expected[i - 1]}");
        Assert.True(expected[Blocks] < 0.5 * expected[0], "eight blocks should remove most of a random matrix");
    }

    [Fact]
    public void AllBlocks_ReconstructionErrorIsTheLastResidual_UpToHalfRounding()
    {
        var w = RandomMatrix(2);
        var decomposed = BitStackDecomposition.Decompose("w", ToTensor(w), Blocks, Rank);
        var (magnitudes, norms) = Reference(w, Blocks, Rank);
        var rebuilt = Matrix<double>.Build.DenseOfRowMajor(Rows, Cols, decomposed.Reconstruct(Blocks).ToDoubleArray());
        double error = (w - rebuilt).FrobeniusNorm();
        // Triangle inequality: stored block i differs from the exact one by S_i ⊙ (u16 v16ᵀ − u vᵀ), whose norm is ‖u16 v16ᵀ − u vᵀ‖.
        double bound = 0;
        for (int i = 0; i < Blocks; i++)
        {
            var b = decomposed.Blocks[i];
            var stored = Matrix<double>.Build.DenseOfRowMajor(Rows, Rank, b.U.Select(v => (double)v).ToArray())
                * Matrix<double>.Build.DenseOfRowMajor(Rank, Cols, b.Vt.Select(v => (double)v).ToArray());
            bound += (stored - magnitudes[i]).FrobeniusNorm();
        }
        bound += 1e-6 * w.FrobeniusNorm(); // the Float32 result tensor
        Assert.True(bound < 0.01 * norms[0], $"fp16 rounding bound {bound} should be small");
        Assert.True(Math.Abs(error - norms[Blocks]) <= bound, $"error {error}, ‖R_n‖ {norms[Blocks]}, bound {bound}");
    }

    [Fact]
    public void Blocks_StoreFactorsAsHalfValues_AndBytesAsSpecified()
    {
        var decomposed = BitStackDecomposition.Decompose("w", ToTensor(RandomMatrix(3)), 2, Rank);
        var block = decomposed.Blocks[0];
        Assert.All(block.U.Concat(block.Vt), v => Assert.Equal(v, (float)(Half)v));
        Assert.Equal(Rows * Cols / 8 + 2 * (Rows * Rank + Rank * Cols), decomposed.BytesPerBlock);
    }

    [Fact]
    public void RankAboveTheMatrixRank_IsClamped()
    {
        var decomposed = BitStackDecomposition.Decompose("w", ToTensor(RandomMatrix(4)), 1, 100);
        Assert.Equal(Cols, decomposed.Blocks[0].Rank);
    }

    [Fact]
    public void BadInput_IsNamedError()
    {
        Assert.Contains("'w' must be a matrix", Assert.Throws<ArgumentException>(() => BitStackDecomposition.Decompose("w", Tensor.Zeros(3), 1, 1)).Message);
        Assert.Contains("blocks must be at least 1", Assert.Throws<ArgumentException>(() => BitStackDecomposition.Decompose("w", Tensor.Zeros(2, 2), 0, 1)).Message);
        var nan = Tensor.FromArray(new[] { 1f, float.NaN, 0, 1 }, [2, 2]);
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => BitStackDecomposition.Decompose("w", nan, 1, 1)).Message);
    }
}
