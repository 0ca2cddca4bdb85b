using Engine;
using MathNet.Numerics.LinearAlgebra;
using Xunit;
using static Engine.Tests.Linalg.LinalgAssert;

namespace Engine.Tests.Linalg;

/// <summary>Inverse, Solve and Det.</summary>
public class SolveTests
{
    // Diagonally dominated so the tests do not depend on luck for conditioning.
    static double[,] WellConditioned(int n, int seed)
    {
        var a = RandomMatrix(n, n, seed);
        for (int i = 0; i < n; i++) a[i, i] += n;
        return a;
    }

    static readonly double[,] Singular = { { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 } };

    [Theory]
    [InlineData(1, DType.Float64)]
    [InlineData(6, DType.Float64)]
    [InlineData(6, DType.Float32)]
    public void Inverse_TimesA_IsIdentity(int n, DType dtype)
    {
        var a = ToTensor(WellConditioned(n, n), dtype);
        var inv = Engine.Linalg.Inverse(a);
        Assert.Equal(dtype, inv.DType);
        Close(Matrix<double>.Build.DenseIdentity(n), AsMatrix(a) * AsMatrix(inv), Tolerance(dtype, n), "A A^-1");
    }

    [Fact]
    public void Inverse_OfSingularMatrix_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => Engine.Linalg.Inverse(Tensor.FromArray(Singular)));
        Assert.StartsWith("Inverse: matrix [3,3] is singular", ex.Message);
        var zeros = Assert.Throws<ArgumentException>(() => Engine.Linalg.Inverse(Tensor.Zeros(2, 2)));
        Assert.StartsWith("Inverse: matrix [2,2] is singular", zeros.Message);
    }

    [Fact]
    public void Solve_WithVectorRightHandSide_ReturnsVector()
    {
        var a = Tensor.FromArray(WellConditioned(4, 1));
        var x = new double[] { 1, -2, 3, 0.5 };
        var b = Tensor.FromArray((AsMatrix(a) * Vector<double>.Build.DenseOfArray(x)).ToArray());
        var solved = Engine.Linalg.Solve(a, b);
        Assert.Equal(new[] { 4 }, solved.Shape);
        Close(Vector<double>.Build.DenseOfArray(x), AsVector(solved), 1e-12, "x");
    }

    [Theory]
    [InlineData(DType.Float64)]
    [InlineData(DType.Float32)]
    public void Solve_WithMatrixRightHandSide_SatisfiesAXEqualsB(DType dtype)
    {
        var a = ToTensor(WellConditioned(5, 2), dtype);
        var b = ToTensor(RandomMatrix(5, 3, 3), dtype);
        var x = Engine.Linalg.Solve(a, b);
        Assert.Equal(new[] { 5, 3 }, x.Shape);
        Assert.Equal(dtype, x.DType);
        Close(AsMatrix(b), AsMatrix(a) * AsMatrix(x), Tolerance(dtype, 5), "A X");
    }

    [Fact]
    public void Solve_PromotesToFloat64_WhenEitherInputIsFloat64()
    {
        var a = Tensor.FromArray(new float[,] { { 2, 0 }, { 0, 4 } });
        var b = Tensor.FromArray(new double[] { 1, 1 });
        var x = Engine.Linalg.Solve(a, b);
        Assert.Equal(DType.Float64, x.DType);
        Assert.Equal(new double[] { 0.5, 0.25 }, x.ToArray<double>());
    }

    [Fact]
    public void Solve_RejectsSingularMatrixAndMismatchedRightHandSide()
    {
        var singular = Assert.Throws<ArgumentException>(() => Engine.Linalg.Solve(Tensor.FromArray(Singular), Tensor.Ones(3)));
        Assert.StartsWith("Solve: matrix [3,3] is singular", singular.Message);
        var shape = Assert.Throws<ArgumentException>(() => Engine.Linalg.Solve(Tensor.Eye(3), Tensor.Ones(4, 2)));
        Assert.Equal("Solve: A [3,3] needs B of shape [3] or [3,k], got [4,2]", shape.Message);
    }

    [Fact]
    public void Solve_OfABatch_SolvesEachSystem()
    {
        var mats = new[] { WellConditioned(3, 1), WellConditioned(3, 2) };
        var a = Tensor.FromArray(mats.SelectMany(m => m.Cast<double>()).ToArray(), [2, 3, 3]);
        var b = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var x = Engine.Linalg.Solve(a, b);
        Assert.Equal(new[] { 2, 3 }, x.Shape);
        for (int i = 0; i < 2; i++)
            Close(AsVector(b.Select(0, i)), AsMatrix(a.Select(0, i)) * AsVector(x.Select(0, i)), 1e-12, $"batch {i}");
    }

    [Fact]
    public void Det_MatchesKnownValues_AndMathNet()
    {
        Assert.Equal(-2.0, Engine.Linalg.Det(Tensor.FromArray(new double[,] { { 1, 2 }, { 3, 4 } })).Item(), 12);
        Assert.Equal(0.0, Engine.Linalg.Det(Tensor.FromArray(Singular)).Item(), 12);
        var data = RandomMatrix(6, 6, 5);
        var det = Engine.Linalg.Det(Tensor.FromArray(data));
        Assert.Empty(det.Shape);
        Assert.Equal(DType.Float64, det.DType);
        Assert.Equal(Matrix<double>.Build.DenseOfArray(data).Determinant(), det.Item(), 12);
    }

    [Fact]
    public void Det_OfIntegerMatrix_ReturnsFloat32()
    {
        var det = Engine.Linalg.Det(Tensor.FromArray(new long[,] { { 2, 1 }, { 1, 3 } }));
        Assert.Equal(DType.Float32, det.DType);
        Assert.Equal(5f, det.Item<float>(), 5);
    }
}
