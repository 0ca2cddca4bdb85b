using Engine;
using FsCheck.Xunit;
using MathNet.Numerics.LinearAlgebra;
using static Engine.Tests.Linalg.LinalgAssert;

namespace Engine.Tests.Linalg;

/// <summary>Laws that hold for every matrix shape.</summary>
public class LinalgPropertyTests
{
    static double MaxError(Matrix<double> a, Matrix<double> b) => (a - b).Enumerate().Select(Math.Abs).Max();

    [Property(MaxTest = 60)]
    public bool Svd_ForAllShapes_SingularValuesAreNonNegativeAndDescending_AndUSVhReconstructs(byte rows, byte cols, int seed)
    {
        int m = 1 + rows % 9, n = 1 + cols % 9;
        var a = ToTensor(RandomMatrix(m, n, seed), DType.Float64);
        var (u, s, vh) = Engine.Linalg.Svd(a);
        var S = s.ToArray<double>();
        bool ordered = S.All(v => v >= 0) && S.Zip(S.Skip(1)).All(p => p.First >= p.Second);
        return ordered && MaxError(AsMatrix(a), AsMatrix(u) * Diag(AsVector(s)) * AsMatrix(vh)) < 1e-12 * Math.Max(1, S[0]);
    }

    [Property(MaxTest = 60)]
    public bool Qr_ForAllShapes_QRReconstructs_QIsOrthonormal_AndRHasNonNegativeDiagonal(byte rows, byte cols, int seed)
    {
        int m = 1 + rows % 9, n = 1 + cols % 9;
        var a = ToTensor(RandomMatrix(m, n, seed), DType.Float64);
        var (q, r) = Engine.Linalg.Qr(a);
        var (Q, R) = (AsMatrix(q), AsMatrix(r));
        bool diagonal = Enumerable.Range(0, Math.Min(m, n)).All(i => R[i, i] >= 0);
        return diagonal
            && MaxError(AsMatrix(a), Q * R) < 1e-12
            && MaxError(Matrix<double>.Build.DenseIdentity(Q.ColumnCount), Q.TransposeThisAndMultiply(Q)) < 1e-12;
    }
}
