using Engine;
using MathNet.Numerics.LinearAlgebra;
using Xunit;
using static Engine.Tests.Linalg.LinalgAssert;

namespace Engine.Tests.Linalg;

public class LuTests
{
    [Theory]
    [InlineData(1, DType.Float64)]
    [InlineData(4, DType.Float64)]
    [InlineData(9, DType.Float64)]
    [InlineData(6, DType.Float32)]
    public void Lu_FollowsPyTorch_AEqualsPLU(int n, DType dtype)
    {
        var a = ToTensor(RandomMatrix(n, n, 50 + n), dtype);
        var (p, l, u) = Engine.Linalg.Lu(a);
        var (P, L, U) = (AsMatrix(p), AsMatrix(l), AsMatrix(u));
        Permutation(P);
        UnitLowerTriangular(L, "L");
        UpperTriangular(U, "U");
        Close(AsMatrix(a), P * L * U, Tolerance(dtype, n), "P L U");
        // Partial pivoting keeps every multiplier at most 1 in magnitude.
        Assert.All(L.Enumerate(), v => Assert.True(Math.Abs(v) <= 1 + 1e-12, $"|L| entry {v} > 1"));
    }

    [Fact]
    public void Lu_PivotsTheLargestEntryFirst()
    {
        // The first column's largest entry is in row 2, so P's first column selects row 2.
        var a = Tensor.FromArray(new double[,] { { 1, 2, 3 }, { 2, 1, 0 }, { 4, 1, 1 } });
        var (p, l, u) = Engine.Linalg.Lu(a);
        Assert.Equal(1.0, AsMatrix(p)[2, 0]);
        Assert.Equal(4.0, AsMatrix(u)[0, 0]);
        Close(AsMatrix(a), AsMatrix(p) * AsMatrix(l) * AsMatrix(u), 1e-14, "P L U");
    }

    [Fact]
    public void Lu_OfRectangularMatrices_MatchesTorchLinalgLu()
    {
        // torch.linalg.lu (torch 1.13, float64): tall [3,2] with a pivot tie in column 1 (the first row wins) and wide [2,3].
        var (p, l, u) = Engine.Linalg.Lu(Tensor.FromArray(new double[,] { { 1, 2 }, { 3, 1 }, { -4, 2 } }));
        Close(Matrix<double>.Build.DenseOfArray(new double[,] { { 0, 0, 1 }, { 0, 1, 0 }, { 1, 0, 0 } }), AsMatrix(p), 0, "P");
        Close(Matrix<double>.Build.DenseOfArray(new double[,] { { 1, 0 }, { -0.75, 1 }, { -0.25, 1 } }), AsMatrix(l), 1e-15, "L");
        Close(Matrix<double>.Build.DenseOfArray(new double[,] { { -4, 2 }, { 0, 2.5 } }), AsMatrix(u), 1e-15, "U");
        (p, l, u) = Engine.Linalg.Lu(Tensor.FromArray(new double[,] { { 1, 2, 5 }, { 3, 1, -2 } }));
        Close(Matrix<double>.Build.DenseOfArray(new double[,] { { 0, 1 }, { 1, 0 } }), AsMatrix(p), 0, "P");
        Close(Matrix<double>.Build.DenseOfArray(new double[,] { { 1, 0 }, { 1.0 / 3, 1 } }), AsMatrix(l), 1e-15, "L");
        Close(Matrix<double>.Build.DenseOfArray(new double[,] { { 3, 1, -2 }, { 0, 5.0 / 3, 17.0 / 3 } }), AsMatrix(u), 1e-14, "U");
    }

    [Theory]
    [InlineData(7, 4)]
    [InlineData(4, 7)]
    public void Ldu_OfRectangularMatrix_ReconstructsA(int m, int n)
    {
        var a = ToTensor(RandomMatrix(m, n, 70 + m), DType.Float64);
        var (p, l, d, u) = Engine.Linalg.Ldu(a);
        int k = Math.Min(m, n);
        Assert.Equal(new[] { m, m }, p.Shape);
        Assert.Equal(new[] { m, k }, l.Shape);
        Assert.Equal(new[] { k }, d.Shape);
        Assert.Equal(new[] { k, n }, u.Shape);
        var (P, L, U) = (AsMatrix(p), AsMatrix(l), AsMatrix(u));
        Permutation(P);
        for (int i = 0; i < k; i++) Assert.Equal(1.0, U[i, i], 14);
        Close(AsMatrix(a), P * L * Diag(AsVector(d)) * U, 1e-12, "P L D U");
        Assert.All(L.Enumerate(), v => Assert.True(Math.Abs(v) <= 1 + 1e-12, $"|L| entry {v} > 1"));
    }

    [Fact]
    public void Lu_OfSingularMatrix_StillFactors()
    {
        var a = Tensor.FromArray(new double[,] { { 1, 2, 3 }, { 2, 4, 6 }, { 1, 0, 1 } });
        var (p, l, u) = Engine.Linalg.Lu(a);
        Close(AsMatrix(a), AsMatrix(p) * AsMatrix(l) * AsMatrix(u), 1e-14, "P L U");
        Assert.Equal(0.0, AsMatrix(u)[2, 2], 14);
    }

    [Theory]
    [InlineData(5, DType.Float64)]
    [InlineData(5, DType.Float32)]
    public void Ldu_ReconstructsA_WithUnitTriangularFactors(int n, DType dtype)
    {
        var a = ToTensor(RandomMatrix(n, n, 90 + n), dtype);
        var (p, l, d, u) = Engine.Linalg.Ldu(a);
        Assert.Equal(new[] { n }, d.Shape);
        var (P, L, D, U) = (AsMatrix(p), AsMatrix(l), AsVector(d), AsMatrix(u));
        Permutation(P);
        UnitLowerTriangular(L, "L");
        UnitLowerTriangular(U.Transpose(), "U^T");
        Close(AsMatrix(a), P * L * Diag(D) * U, Tolerance(dtype, n), "P L D U");
    }

    [Fact]
    public void Ldu_PivotsAreTheDiagonalOfLuU()
    {
        var a = ToTensor(RandomMatrix(4, 4, 3), DType.Float64);
        var (_, _, u) = Engine.Linalg.Lu(a);
        var (_, _, d, _) = Engine.Linalg.Ldu(a);
        Close(AsMatrix(u).Diagonal(), AsVector(d), 1e-15, "D vs diag(U)");
    }

    [Fact]
    public void Ldu_OfSingularMatrix_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => Engine.Linalg.Ldu(Tensor.FromArray(new double[,] { { 1, 2 }, { 2, 4 } })));
        Assert.StartsWith("Ldu: matrix [2,2] is singular", ex.Message);
    }

    [Fact]
    public void Lu_PermutationMatchesMathNetsPivotingOnTheTransposeConvention()
    {
        // MathNet factors P' A = L U; torch.linalg.lu's P is P'^T. Same L and U either way.
        var data = RandomMatrix(5, 5, 12);
        var lu = Matrix<double>.Build.DenseOfArray(data).LU();
        var (_, l, u) = Engine.Linalg.Lu(Tensor.FromArray(data));
        Close(lu.L, AsMatrix(l), 1e-15, "L");
        Close(lu.U, AsMatrix(u), 1e-15, "U");
    }
}
