using Engine.Recording;

namespace Engine;

// Batched triangular solves, differentiable (torch.linalg.solve_triangular with left=True).
public sealed partial class Tensor
{
    /// <summary>
    /// X with A X = B for triangular A [..., n, n] and B [..., n, m] (leading dimensions broadcast), by forward
    /// substitution for lower A and back substitution for upper A (torch.linalg.solve_triangular, left=True). Only
    /// the triangle named by <paramref name="upper"/> is read; with <paramref name="unitriangular"/> the diagonal is
    /// taken to be ones and not read either. A zero on a read diagonal gives infinities, as in PyTorch.
    /// O(n^2 m) per matrix, against O(n^3) for an inverse; differentiable in A and B.
    /// <code>var t = Tensor.SolveTriangular(strictLower, Tensor.Eye(c), upper: false, unitriangular: true); // (I + N)^-1</code>
    /// </summary>
    public static Tensor SolveTriangular(Tensor a, Tensor b, bool upper, bool unitriangular = false)
    {
        RequireSameDevice("SolveTriangular", a, b);
        Require(a.Rank >= 2 && b.Rank >= 2 && a._shape[^1] == a._shape[^2] && b._shape[^2] == a._shape[^1],
            $"SolveTriangular: expects A [..., n, n] and B [..., n, m], got A {Shapes.Format(a._shape)} and B {Shapes.Format(b._shape)}");
        var dtype = DTypes.Promote(a.DType, b.DType);
        Require(dtype != DType.Bool, "SolveTriangular: not defined for Bool tensors");
        dtype = dtype.ToFloating();
        var batch = Shapes.Broadcast(
            $"SolveTriangular: A {Shapes.Format(a._shape)} with B {Shapes.Format(b._shape)}, batch dimensions", a._shape[..^2], b._shape[..^2]);
        int n = a._shape[^1], m = b._shape[^1];
        var ea = a.To(dtype).Expand([.. batch, n, n]);
        var eb = b.To(dtype).Expand([.. batch, n, m]);
        var x = Empty([.. batch, n, m], dtype, ea.Backend);
        if (x.Numel > 0) ea.Backend.SolveTriangular(ea.Strided, eb.Strided, x.Strided, upper, unitriangular);
        return x.Record(OpKind.SolveTriangular, [ea, eb], new() { Upper = upper, Unitriangular = unitriangular });
    }
}
