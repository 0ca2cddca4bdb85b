using Engine;
using Xunit;
using static Engine.Tests.Linalg.LinalgAssert;

namespace Engine.Tests.Linalg;

public class QrTests
{
    [Theory]
    [InlineData(7, 4, DType.Float64)]
    [InlineData(3, 6, DType.Float64)]
    [InlineData(5, 5, DType.Float64)]
    [InlineData(7, 4, DType.Float32)]
    [InlineData(3, 6, DType.Float32)]
    [InlineData(1, 1, DType.Float32)]
    public void Qr_Reduced_ReconstructsWithOrthonormalQ_AndUpperTriangularR(int m, int n, DType dtype)
    {
        var a = ToTensor(RandomMatrix(m, n, 7 * m + n), dtype);
        var (q, r) = Engine.Linalg.Qr(a);
        int k = Math.Min(m, n);
        Assert.Equal(new[] { m, k }, q.Shape);
        Assert.Equal(new[] { k, n }, r.Shape);
        Assert.Equal(dtype, q.DType);
        var (Q, R) = (AsMatrix(q), AsMatrix(r));
        Close(AsMatrix(a), Q * R, Tolerance(dtype, Math.Sqrt(n)), "Q R");
        OrthonormalColumns(Q, Tolerance(dtype), "Q^T Q");
        UpperTriangular(R, "R");
    }

    [Fact]
    public void Qr_MakesTheDiagonalOfRNonNegative()
    {
        // -I would give R = -I from Householder reflections; the sign convention turns it into Q = -I, R = I.
        var (q, r) = Engine.Linalg.Qr(Tensor.FromArray(new double[,] { { -2, 1 }, { 0, -3 } }));
        var R = AsMatrix(r);
        Assert.True(R[0, 0] > 0 && R[1, 1] > 0, $"diagonal of R: {R[0, 0]}, {R[1, 1]}");
        Close(AsMatrix(Tensor.FromArray(new double[,] { { -2, 1 }, { 0, -3 } })), AsMatrix(q) * R, 1e-14, "Q R");
        for (int seed = 0; seed < 5; seed++)
        {
            var Rs = AsMatrix(Engine.Linalg.Qr(ToTensor(RandomMatrix(6, 4, seed), DType.Float64)).R);
            for (int i = 0; i < 4; i++) Assert.True(Rs[i, i] >= 0, $"seed {seed}: R[{i},{i}] = {Rs[i, i]}");
        }
    }

    [Fact]
    public void Qr_OfRankDeficientMatrix_StillReconstructs()
    {
        var a = ToTensor(RandomMatrixOfRank(6, 4, 2, 31), DType.Float64);
        var (q, r) = Engine.Linalg.Qr(a);
        Close(AsMatrix(a), AsMatrix(q) * AsMatrix(r), 1e-12, "Q R");
        OrthonormalColumns(AsMatrix(q), 1e-12, "Q^T Q");
    }

    [Fact]
    public void Qr_OfABatch_FactorsEachMatrix()
    {
        var flat = RandomMatrix(3 * 5, 2, 4).Cast<double>().ToArray();
        var a = Tensor.FromArray(flat, [3, 5, 2]);
        var (q, r) = Engine.Linalg.Qr(a);
        Assert.Equal(new[] { 3, 5, 2 }, q.Shape);
        Assert.Equal(new[] { 3, 2, 2 }, r.Shape);
        for (int b = 0; b < 3; b++)
            Close(AsMatrix(a.Select(0, b)), AsMatrix(q.Select(0, b)) * AsMatrix(r.Select(0, b)), 1e-12, $"batch {b}: Q R");
    }
}
