using Xunit;

namespace Engine.Tests.Linalg;

/// <summary>
/// The batched triangular solve against MathNet's general solver (<see cref="Engine.Linalg.Solve"/>) applied to the
/// triangle the solve reads, with a unit diagonal where asked, over both triangles, several sizes, broadcast
/// batches, strided operands and both floating dtypes.
/// </summary>
public class SolveTriangularTests
{
    // A random triangular system that is well conditioned: off-diagonal entries of size 1/n, diagonal near 2.
    static Tensor TriangularMatrix(int[] shape, Generator gen, DType dtype)
    {
        int n = shape[^1];
        var noise = Tensor.Randn(shape, dtype: dtype, generator: gen) / n;
        return noise + Tensor.Eye(n, dtype: dtype) * 2;
    }

    // The matrix the solve is defined to read: one triangle, and ones on the diagonal when unitriangular.
    static Tensor ReadTriangle(Tensor a, bool upper, bool unitriangular)
    {
        int n = a.Size(-1);
        var triangle = upper ? a.Triu(unitriangular ? 1 : 0) : a.Tril(unitriangular ? -1 : 0);
        return unitriangular ? triangle + Tensor.Eye(n, dtype: a.DType) : triangle;
    }

    static void AssertClose(Tensor expected, Tensor actual, double tolerance)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        var (e, x) = (expected.ToDoubleArray(), actual.ToDoubleArray());
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - x[i]) <= tolerance * Math.Max(1, Math.Abs(e[i])), $"element {i}: expected {e[i]}, got {x[i]}");
    }

    public static readonly TheoryData<int, int, bool, bool> Cases = new()
    {
        // n, right-hand-side columns m, upper, unitriangular
        { 1, 1, false, false }, { 1, 3, true, true }, { 5, 1, false, false }, { 5, 7, true, false },
        { 16, 16, false, true }, { 17, 33, true, true }, { 40, 9, false, false }, { 64, 64, false, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void SolveTriangular_Float64_MatchesTheGeneralSolverOnTheReadTriangle(int n, int m, bool upper, bool unitriangular)
    {
        var gen = new Generator((ulong)(n * 100 + m));
        var a = TriangularMatrix([3, n, n], gen, DType.Float64);
        var b = Tensor.Randn([3, n, m], dtype: DType.Float64, generator: gen);
        var x = Tensor.SolveTriangular(a, b, upper, unitriangular);
        AssertClose(Engine.Linalg.Solve(ReadTriangle(a, upper, unitriangular), b), x, 1e-12);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SolveTriangular_Float32_MatchesTheGeneralSolverOnTheReadTriangle(int n, int m, bool upper, bool unitriangular)
    {
        var gen = new Generator((ulong)(n * 100 + m + 1));
        var a = TriangularMatrix([2, n, n], gen, DType.Float32);
        var b = Tensor.Randn([2, n, m], generator: gen);
        var x = Tensor.SolveTriangular(a, b, upper, unitriangular);
        Assert.Equal(DType.Float32, x.DType);
        AssertClose(Engine.Linalg.Solve(ReadTriangle(a, upper, unitriangular), b), x, 1e-5);
    }

    [Fact]
    public void SolveTriangular_BroadcastsBatchesAndReadsStridedOperands()
    {
        var gen = new Generator(3);
        var a = TriangularMatrix([6, 6], gen, DType.Float64).MT;              // a transposed (strided) lower matrix is upper
        var b = Tensor.Randn([2, 3, 5, 6], dtype: DType.Float64, generator: gen).MT; // [2, 3, 6, 5], strided
        var x = Tensor.SolveTriangular(a, b, upper: true);
        Assert.Equal(new[] { 2, 3, 6, 5 }, x.Shape);
        AssertClose(Engine.Linalg.Solve(ReadTriangle(a, true, false).Expand([2, 3, 6, 6]), b.Contiguous()), x, 1e-12);
    }

    [Fact]
    public void SolveTriangular_IgnoresTheOtherTriangleAndAUnitDiagonal()
    {
        var gen = new Generator(4);
        var a = TriangularMatrix([7, 7], gen, DType.Float64);
        var b = Tensor.Randn([7, 2], dtype: DType.Float64, generator: gen);
        var garbage = a + Tensor.Randn([7, 7], dtype: DType.Float64, generator: gen).Triu(0) * 100;
        AssertClose(Tensor.SolveTriangular(a, b, upper: false, unitriangular: true),
            Tensor.SolveTriangular(garbage.Tril(-1), b, upper: false, unitriangular: true), 1e-14);
    }

    [Fact]
    public void SolveTriangular_OfMismatchedShapes_NamesTheOpAndShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.SolveTriangular(Tensor.Zeros([4, 4]), Tensor.Zeros([3, 2]), upper: false));
        Assert.Contains("SolveTriangular", ex.Message);
        Assert.Contains("A [4,4]", ex.Message);
        Assert.Contains("B [3,2]", ex.Message);
    }
}
