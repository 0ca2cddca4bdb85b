using Engine;
using MathNet.Numerics.LinearAlgebra;
using Xunit;
using static Engine.Tests.Linalg.LinalgAssert;

namespace Engine.Tests.Linalg;

public class SvdTests
{
    // Tall, wide, square, a vector-shaped matrix and a 1x1.
    public static readonly TheoryData<int, int, DType> Shapes = new()
    {
        { 7, 4, DType.Float64 }, { 3, 6, DType.Float64 }, { 5, 5, DType.Float64 }, { 8, 1, DType.Float64 }, { 1, 1, DType.Float64 },
        { 7, 4, DType.Float32 }, { 3, 6, DType.Float32 }, { 5, 5, DType.Float32 }, { 1, 6, DType.Float32 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Svd_ThinFactors_ReconstructTheMatrix_WithOrthonormalVectors(int m, int n, DType dtype)
    {
        var a = ToTensor(RandomMatrix(m, n, 10 * m + n), dtype);
        var (u, s, vh) = Engine.Linalg.Svd(a);
        int k = Math.Min(m, n);
        Assert.Equal(new[] { m, k }, u.Shape);
        Assert.Equal(new[] { k }, s.Shape);
        Assert.Equal(new[] { k, n }, vh.Shape);
        Assert.Equal(dtype, u.DType);
        var (U, S, Vh, A) = (AsMatrix(u), AsVector(s), AsMatrix(vh), AsMatrix(a));
        double tol = Tolerance(dtype, S[0]);
        Close(A, U * Diag(S) * Vh, tol, "U diag(S) Vh");
        OrthonormalColumns(U, Tolerance(dtype), "U^T U");
        OrthonormalColumns(Vh.Transpose(), Tolerance(dtype), "Vh Vh^T");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Svd_SingularValues_MatchMathNet_AndDescend(int m, int n, DType dtype)
    {
        var a = ToTensor(RandomMatrix(m, n, m * n + 3), dtype);
        var expected = Matrix<double>.Build.DenseOfRowMajor(m, n, a.ToDoubleArray()).Svd(computeVectors: false).S;
        var s = AsVector(Engine.Linalg.Svd(a).S);
        Close(expected, s, Tolerance(dtype, expected[0]), "singular values");
        for (int i = 1; i < s.Count; i++) Assert.True(s[i - 1] >= s[i], $"S[{i - 1}] = {s[i - 1]} < S[{i}] = {s[i]}");
    }

    [Fact]
    public void Svd_OfRankDeficientMatrix_HasZeroTrailingSingularValues_AndStillReconstructs()
    {
        var a = ToTensor(RandomMatrixOfRank(6, 5, 2, 77), DType.Float64);
        var (u, s, vh) = Engine.Linalg.Svd(a);
        var S = AsVector(s);
        Assert.True(S[1] > 1e-3, $"second singular value {S[1]} should be clearly non-zero");
        for (int i = 2; i < 5; i++) Assert.True(Math.Abs(S[i]) < 1e-12, $"S[{i}] = {S[i]} should vanish for a rank-2 matrix");
        Close(AsMatrix(a), AsMatrix(u) * Diag(S) * AsMatrix(vh), 1e-12, "U diag(S) Vh");
    }

    [Fact]
    public void Svd_FullMatrices_GivesSquareOrthogonalFactors()
    {
        var a = ToTensor(RandomMatrix(5, 3, 5), DType.Float64);
        var (u, s, vh) = Engine.Linalg.Svd(a, fullMatrices: true);
        Assert.Equal(new[] { 5, 5 }, u.Shape);
        Assert.Equal(new[] { 3 }, s.Shape);
        Assert.Equal(new[] { 3, 3 }, vh.Shape);
        OrthonormalColumns(AsMatrix(u), 1e-12, "full U");
        var sigma = Matrix<double>.Build.Dense(5, 3);
        for (int i = 0; i < 3; i++) sigma[i, i] = s.ToDoubleArray()[i];
        Close(AsMatrix(a), AsMatrix(u) * sigma * AsMatrix(vh), 1e-12, "U Sigma Vh");
    }

    [Fact]
    public void SvdTopK_ReturnsTheLeadingTripletsOfTheFullSvd()
    {
        var a = ToTensor(RandomMatrix(6, 8, 21), DType.Float64);
        var (u, s, vh) = Engine.Linalg.Svd(a);
        var (uk, sk, vhk) = Engine.Linalg.SvdTopK(a, 3);
        Assert.Equal(new[] { 6, 3 }, uk.Shape);
        Assert.Equal(new[] { 3, 8 }, vhk.Shape);
        Assert.Equal(s.ToArray<double>()[..3], sk.ToArray<double>());
        Assert.Equal(u.Narrow(1, 0, 3).ToArray<double>(), uk.ToArray<double>());
        Assert.Equal(vh.Narrow(0, 0, 3).ToArray<double>(), vhk.ToArray<double>());
    }

    [Fact]
    public void SvdTopK_IsTheBestRankKApproximation_EckartYoung()
    {
        // The spectral-norm error of the rank-k truncation is the (k+1)-th singular value.
        var a = ToTensor(RandomMatrix(7, 5, 8), DType.Float64);
        var (uk, sk, vhk) = Engine.Linalg.SvdTopK(a, 2);
        var residual = AsMatrix(a) - AsMatrix(uk) * Diag(AsVector(sk)) * AsMatrix(vhk);
        double third = Engine.Linalg.Svd(a).S.ToArray<double>()[2];
        Assert.Equal(third, residual.L2Norm(), 10);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void SvdTopK_RejectsKOutsideOneToMinDimension(int k)
    {
        var ex = Assert.Throws<ArgumentException>(() => Engine.Linalg.SvdTopK(Tensor.Zeros(4, 6), k));
        Assert.Equal($"SvdTopK: k must be between 1 and min(m, n) = 4 for matrix [4,6], got {k}", ex.Message);
    }

    [Fact]
    public void Svd_OfABatch_DecomposesEachMatrix()
    {
        var mats = Enumerable.Range(0, 6).Select(i => RandomMatrix(4, 3, 300 + i)).ToArray();
        var flat = mats.SelectMany(m => m.Cast<double>()).ToArray();
        var (u, s, vh) = Engine.Linalg.Svd(Tensor.FromArray(flat, [2, 3, 4, 3]));
        Assert.Equal(new[] { 2, 3, 4, 3 }, u.Shape);
        Assert.Equal(new[] { 2, 3, 3 }, s.Shape);
        Assert.Equal(new[] { 2, 3, 3, 3 }, vh.Shape);
        var sFlat = s.ToArray<double>();
        for (int i = 0; i < 6; i++)
        {
            var (_, si, _) = Engine.Linalg.Svd(Tensor.FromArray(mats[i]));
            Assert.Equal(si.ToArray<double>(), sFlat[(3 * i)..(3 * i + 3)]);
        }
    }

    [Fact]
    public void Svd_OfIntegerMatrix_ReturnsFloat32()
    {
        var (u, s, vh) = Engine.Linalg.Svd(Tensor.FromArray(new int[,] { { 3, 0 }, { 0, -4 } }));
        Assert.Equal(DType.Float32, s.DType);
        Assert.Equal(new float[] { 4, 3 }, s.ToArray<float>());
        Close(Matrix<double>.Build.DenseOfArray(new double[,] { { 3, 0 }, { 0, -4 } }),
            AsMatrix(u) * Diag(AsVector(s)) * AsMatrix(vh), 1e-6, "U diag(S) Vh");
    }
}
