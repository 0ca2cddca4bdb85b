using Engine;
using MathNet.Numerics.LinearAlgebra;
using Xunit;
using static Engine.Tests.Linalg.LinalgAssert;

namespace Engine.Tests.Linalg;

public class EighTests
{
    static double[,] RandomSymmetric(int n, int seed)
    {
        var a = Matrix<double>.Build.DenseOfArray(RandomMatrix(n, n, seed));
        return (a + a.Transpose()).ToArray();
    }

    [Theory]
    [InlineData(1, DType.Float64)]
    [InlineData(3, DType.Float64)]
    [InlineData(8, DType.Float64)]
    [InlineData(6, DType.Float32)]
    public void EighSymmetric_ReconstructsA_WithOrthonormalEigenvectors(int n, DType dtype)
    {
        var a = ToTensor(RandomSymmetric(n, 20 + n), dtype);
        var (w, v) = Engine.Linalg.EighSymmetric(a);
        Assert.Equal(new[] { n }, w.Shape);
        Assert.Equal(new[] { n, n }, v.Shape);
        Assert.Equal(dtype, w.DType);
        var (W, V) = (AsVector(w), AsMatrix(v));
        Close(AsMatrix(a), V * Diag(W) * V.Transpose(), Tolerance(dtype, n), "V diag(w) V^T");
        OrthonormalColumns(V, Tolerance(dtype), "V^T V");
    }

    [Theory]
    [InlineData(5, DType.Float64)]
    [InlineData(5, DType.Float32)]
    public void EighSymmetric_EigenvaluesAscend_AndMatchMathNet(int n, DType dtype)
    {
        var a = ToTensor(RandomSymmetric(n, 40 + n), dtype);
        var expected = Matrix<double>.Build.DenseOfRowMajor(n, n, a.ToDoubleArray()).Evd(Symmetricity.Symmetric)
            .EigenValues.Select(c => c.Real).OrderBy(x => x).ToArray();
        var w = Engine.Linalg.EighSymmetric(a).Eigenvalues.ToDoubleArray();
        Close(Vector<double>.Build.DenseOfArray(expected), Vector<double>.Build.DenseOfArray(w), Tolerance(dtype, n), "eigenvalues");
        for (int i = 1; i < n; i++) Assert.True(w[i - 1] <= w[i], $"w[{i - 1}] = {w[i - 1]} > w[{i}] = {w[i]}");
    }

    [Fact]
    public void EighSymmetric_OfDiagonalMatrix_SortsTheDiagonal()
    {
        var (w, v) = Engine.Linalg.EighSymmetric(Tensor.FromArray(new double[,] { { 3, 0, 0 }, { 0, -1, 0 }, { 0, 0, 2 } }));
        Assert.Equal(new double[] { -1, 2, 3 }, w.ToArray<double>());
        // Eigenvector of -1 is ±e1.
        Assert.Equal(1.0, Math.Abs(AsMatrix(v)[1, 0]), 14);
    }

    [Fact]
    public void EighSymmetric_RejectsNonSymmetricMatrix_ReportingTheAsymmetry()
    {
        var ex = Assert.Throws<ArgumentException>(() => Engine.Linalg.EighSymmetric(Tensor.FromArray(new double[,] { { 1, 2 }, { 2.5, 1 } })));
        Assert.StartsWith("EighSymmetric: matrix [2,2] is not symmetric: max |A - A^T| = 0.5", ex.Message);
    }

    [Fact]
    public void EighSymmetric_AcceptsAsymmetryBelowTolerance()
    {
        var (w, _) = Engine.Linalg.EighSymmetric(Tensor.FromArray(new double[,] { { 2, 1 }, { 1 + 1e-9, 2 } }));
        Assert.Equal(1.0, w.ToArray<double>()[0], 6);
        Assert.Equal(3.0, w.ToArray<double>()[1], 6);
    }
}
