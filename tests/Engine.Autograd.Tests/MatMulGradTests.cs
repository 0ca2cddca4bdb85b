using Engine.Autograd.Testing;
using FsCheck.Fluent;
using Xunit;

namespace Engine.Autograd.Tests;

/// <summary>
/// forall sizes, the gradients of matmul in each of torch.matmul's forms (vector and matrix operands, batched,
/// batch dimensions broadcast) match finite differences, on contiguous and strided operands.
/// </summary>
public class MatMulGradTests
{
    static void Forms(Func<int, int, int, int, int, (int[] A, int[] B)> shapes, Func<Tensor, Tensor, Tensor>? product = null)
    {
        product ??= (a, b) => a.MatMul(b);
        var dims = Gen.ArrayOf(Gen.Choose(1, 4), 5);
        var gen = dims.SelectMany(d =>
        {
            var (sa, sb) = shapes(d[0], d[1], d[2], d[3], d[4]);
            return Gen.Zip(Inputs.Of(sa), Inputs.Of(sb));
        });
        GradProperty.ForAll(gen, p =>
        {
            var (a, b) = p;
            GradProperty.Check(x => product(a.View(x[0]), b.View(x[1])), [a.Base, b.Base]);
        });
    }

    [Fact] public void MatMul_VectorByVector_IsADotProduct() => Forms((m, k, n, b, c) => ([k], [k]));
    [Fact] public void MatMul_VectorByMatrix_MatchesFiniteDifferences() => Forms((m, k, n, b, c) => ([k], [k, n]));
    [Fact] public void MatMul_MatrixByVector_MatchesFiniteDifferences() => Forms((m, k, n, b, c) => ([m, k], [k]));
    [Fact] public void MatMul_MatrixByMatrix_MatchesFiniteDifferences() => Forms((m, k, n, b, c) => ([m, k], [k, n]));
    [Fact] public void MatMul_BatchedByBatched_MatchesFiniteDifferences() => Forms((m, k, n, b, c) => ([b, m, k], [b, k, n]));
    [Fact] public void MatMul_BroadcastsBatchDimensions() => Forms((m, k, n, b, c) => ([b, 1, m, k], [c, k, n]));
    [Fact] public void MatMul_BatchedByMatrix_SumsTheMatrixGradientOverTheBatch() => Forms((m, k, n, b, c) => ([b, m, k], [k, n]));
    [Fact] public void MatMul_VectorByBatched_AndBatchedByVector_MatchFiniteDifferences()
    {
        Forms((m, k, n, b, c) => ([k], [b, k, n]));
        Forms((m, k, n, b, c) => ([b, m, k], [k]));
    }

    [Fact] public void BmmDotOuterAndOperator_MatchFiniteDifferences()
    {
        Forms((m, k, n, b, c) => ([b, m, k], [b, k, n]), (x, y) => x.Bmm(y));
        Forms((m, k, n, b, c) => ([k], [k]), (x, y) => x.Dot(y) + x.Outer(y).Sum() * 2);
        Forms((m, k, n, b, c) => ([m, k], [n, k]), (x, y) => x % y.T);
    }

    [Fact]
    public void Addmm_WithEveryAddendShape_MatchesFiniteDifferencesInAllThree()
    {
        // The addend broadcasts from a bias row, a column, a scalar or the full matrix; all three inputs strided or not.
        var gen = Gen.ArrayOf(Gen.Choose(1, 4), 4).SelectMany(d =>
        {
            int m = d[0], k = d[1], n = d[2];
            int[][] addends = [[n], [m, n], [m, 1], []];
            return Gen.Zip(Inputs.Of(addends[d[3] - 1]), Gen.Zip(Inputs.Of([m, k]), Inputs.Of([k, n])));
        });
        GradProperty.ForAll(gen, p =>
        {
            var (c, (a, b)) = p;
            GradProperty.Check(x => Tensor.Addmm(c.View(x[0]), a.View(x[1]), b.View(x[2])), [c.Base, a.Base, b.Base]);
        });
    }

    [Fact]
    public void SolveTriangular_BothTrianglesWithAndWithoutUnitDiagonal_MatchesFiniteDifferences()
        => GradProperty.ForAll(
            from n in Gen.Choose(1, 5)
            from m in Gen.Choose(1, 4)
            from batch in Gen.Choose(1, 2)
            from upper in Gen.Elements(false, true)
            from unit in Gen.Elements(false, true)
            from seed in Gen.Choose(0, 1000)
            select (n, m, batch, upper, unit, seed),
            p =>
            {
                var gen = new Generator((ulong)p.seed);
                // Diagonal near 2 and small off-diagonal entries keep the system well conditioned.
                var a = Tensor.Randn([p.batch, p.n, p.n], dtype: DType.Float64, generator: gen) * 0.3 + Tensor.Eye(p.n, dtype: DType.Float64) * 2;
                var b = Tensor.Randn([p.n, p.m], dtype: DType.Float64, generator: gen);
                GradProperty.Check(x => Tensor.SolveTriangular(x[0], x[1], p.upper, p.unit), [a, b]);
            });
}
