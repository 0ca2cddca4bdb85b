using Engine;
using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Engine.Tests.Linalg;

/// <summary>Random test matrices and the checks the decomposition tests share, done in MathNet doubles.</summary>
internal static class LinalgAssert
{
    /// <summary>Entries uniform on [-1, 1), reproducible from the seed.</summary>
    public static double[,] RandomMatrix(int m, int n, int seed)
    {
        var rng = new System.Random(seed);
        var a = new double[m, n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) a[i, j] = rng.NextDouble() * 2 - 1;
        return a;
    }

    /// <summary>A random m x n matrix of the given rank (a product of m x r and r x n random factors).</summary>
    public static double[,] RandomMatrixOfRank(int m, int n, int rank, int seed)
        => Matrix<double>.Build.DenseOfArray(RandomMatrix(m, rank, seed)).Multiply(Matrix<double>.Build.DenseOfArray(RandomMatrix(rank, n, seed + 1))).ToArray();

    /// <summary>The tensor for a matrix, in the given dtype (Float32 rounds the entries).</summary>
    public static Tensor ToTensor(double[,] a, DType dtype) => Tensor.FromArray(a).To(dtype);

    /// <summary>The matrix that input data actually is after conversion to the tensor's dtype.</summary>
    public static Matrix<double> AsMatrix(Tensor t)
    {
        Assert.Equal(2, t.Rank);
        return Matrix<double>.Build.DenseOfRowMajor(t.Size(0), t.Size(1), t.ToDoubleArray());
    }

    public static Vector<double> AsVector(Tensor t)
    {
        Assert.Equal(1, t.Rank);
        return Vector<double>.Build.DenseOfArray(t.ToDoubleArray());
    }

    /// <summary>Tolerance for results of the given dtype, relative to a scale.</summary>
    public static double Tolerance(DType dtype, double scale = 1) => (dtype == DType.Float64 ? 1e-10 : 2e-5) * Math.Max(1, scale);

    public static void Close(Matrix<double> expected, Matrix<double> actual, double tolerance, string what)
    {
        Assert.Equal(expected.RowCount, actual.RowCount);
        Assert.Equal(expected.ColumnCount, actual.ColumnCount);
        double error = (expected - actual).Enumerate().Select(Math.Abs).DefaultIfEmpty(0).Max();
        Assert.True(error <= tolerance, $"{what}: max error {error:G3} exceeds {tolerance:G3}");
    }

    public static void Close(Vector<double> expected, Vector<double> actual, double tolerance, string what)
        => Close(expected.ToColumnMatrix(), actual.ToColumnMatrix(), tolerance, what);

    /// <summary>Columns orthonormal: Q^T Q = I.</summary>
    public static void OrthonormalColumns(Matrix<double> q, double tolerance, string what)
        => Close(Matrix<double>.Build.DenseIdentity(q.ColumnCount), q.TransposeThisAndMultiply(q), tolerance, what);

    public static void UpperTriangular(Matrix<double> r, string what)
    {
        for (int i = 0; i < r.RowCount; i++)
            for (int j = 0; j < Math.Min(i, r.ColumnCount); j++)
                Assert.True(r[i, j] == 0, $"{what}: entry [{i},{j}] below the diagonal is {r[i, j]}");
    }

    public static void UnitLowerTriangular(Matrix<double> l, string what)
    {
        for (int i = 0; i < l.RowCount; i++)
        {
            Assert.True(l[i, i] == 1, $"{what}: diagonal entry [{i},{i}] is {l[i, i]}");
            for (int j = i + 1; j < l.ColumnCount; j++)
                Assert.True(l[i, j] == 0, $"{what}: entry [{i},{j}] above the diagonal is {l[i, j]}");
        }
    }

    /// <summary>Exactly one 1 in every row and column, zeros elsewhere.</summary>
    public static void Permutation(Matrix<double> p)
    {
        Assert.Equal(p.RowCount, p.ColumnCount);
        foreach (var v in p.Enumerate()) Assert.True(v == 0 || v == 1, $"permutation entry {v}");
        for (int i = 0; i < p.RowCount; i++)
        {
            Assert.Equal(1.0, p.Row(i).Sum());
            Assert.Equal(1.0, p.Column(i).Sum());
        }
    }

    public static Matrix<double> Diag(Vector<double> d) => Matrix<double>.Build.DenseOfDiagonalVector(d);
}
