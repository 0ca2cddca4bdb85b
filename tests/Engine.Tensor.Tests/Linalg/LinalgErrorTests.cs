using Engine;
using Xunit;

namespace Engine.Tests.Linalg;

/// <summary>Every op rejects what it cannot decompose with a message naming the op and the shape.</summary>
public class LinalgErrorTests
{
    public static readonly TheoryData<string> Ops = new() { "Svd", "SvdTopK", "Qr", "Lu", "Ldu", "EighSymmetric", "Inverse", "Det", "Solve" };

    static void Run(string op, Tensor a)
    {
        switch (op)
        {
            case "Svd": Engine.Linalg.Svd(a); break;
            case "SvdTopK": Engine.Linalg.SvdTopK(a, 1); break;
            case "Qr": Engine.Linalg.Qr(a); break;
            case "Lu": Engine.Linalg.Lu(a); break;
            case "Ldu": Engine.Linalg.Ldu(a); break;
            case "EighSymmetric": Engine.Linalg.EighSymmetric(a); break;
            case "Inverse": Engine.Linalg.Inverse(a); break;
            case "Det": Engine.Linalg.Det(a); break;
            case "Solve": Engine.Linalg.Solve(a, Tensor.Ones(3)); break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    [Theory]
    [MemberData(nameof(Ops))]
    public void EveryOp_RejectsVectors_NamingOpAndShape(string op)
    {
        var ex = Assert.Throws<ArgumentException>(() => Run(op, Tensor.Ones(3)));
        Assert.Equal($"{op}: expects a matrix [m,n] or a batch of matrices [...,m,n], got [3]", ex.Message);
    }

    [Theory]
    [MemberData(nameof(Ops))]
    public void EveryOp_RejectsBoolAndEmptyMatrices(string op)
    {
        Assert.StartsWith($"{op}: not defined for Bool", Assert.Throws<ArgumentException>(() => Run(op, Tensor.Zeros([2, 2], DType.Bool))).Message);
        Assert.Equal($"{op}: expects a non-empty matrix, got [0,3]", Assert.Throws<ArgumentException>(() => Run(op, Tensor.Zeros(0, 3))).Message);
    }

    [Theory]
    [InlineData("EighSymmetric")]
    [InlineData("Inverse")]
    [InlineData("Det")]
    [InlineData("Solve")]
    public void SquareOnlyOps_RejectNonSquareMatrices(string op)
    {
        var ex = Assert.Throws<ArgumentException>(() => Run(op, Tensor.Ones(3, 2)));
        Assert.Equal($"{op}: expects a square matrix, got [3,2]", ex.Message);
    }

    [Fact]
    public void RectangularOps_AcceptNonSquareMatrices()
    {
        Assert.Equal(new[] { 2 }, Engine.Linalg.Svd(Tensor.Ones(3, 2)).S.Shape);
        Assert.Equal(new[] { 2, 2 }, Engine.Linalg.Qr(Tensor.Ones(3, 2)).R.Shape);
        Assert.Equal(new[] { 2, 2 }, Engine.Linalg.Lu(Tensor.Ones(3, 2)).U.Shape);
        Assert.Equal(new[] { 3, 2 }, Engine.Linalg.Ldu(Tensor.FromArray(new double[,] { { 1, 2 }, { 3, 1 }, { 0, 1 } })).L.Shape);
    }
}
