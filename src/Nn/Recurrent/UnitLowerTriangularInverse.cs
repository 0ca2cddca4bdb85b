using Engine.Autograd;

namespace Engine.Nn;

/// <summary>
/// X = (I + N)^{-1} for strictly lower triangular N [..., c, c] (entries on and above the diagonal are ignored), by
/// forward substitution, with the derivative of the inverse written out: from d(A^{-1}) = -A^{-1} dA A^{-1},
/// dL/dN = StrictLower(-X^T G X^T) for the output gradient G. Recorded as one op, so the backward is two batched
/// products instead of retracing the c sequential rows of the substitution (which made the UT transform's backward
/// about nine tenths of its cost at c = 64).
/// </summary>
sealed class UnitLowerTriangularInverse : Function
{
    /// <summary>(I + StrictLower(n))^{-1}, differentiable with respect to <paramref name="strictLower"/>.</summary>
    public static Tensor Of(Tensor strictLower) => new UnitLowerTriangularInverse().Apply(strictLower);

    protected override Tensor Forward(FunctionContext ctx, Tensor[] inputs)
    {
        var n = inputs[0].Tril(-1);
        int c = n.Size(-1);
        var identity = Tensor.Eye(c, dtype: n.DType);
        var batch = n.Shape[..^2];
        // Row i of (I + N) X = I: X_i = e_i^T - sum_{j<i} N_ij X_j.
        var x = identity.Narrow(0, 0, 1).Expand([.. batch, 1, c]);
        for (int i = 1; i < c; i++)
        {
            var row = identity.Narrow(0, i, 1) - n.Narrow(-2, i, 1).Narrow(-1, 0, i).MatMul(x);
            x = Tensor.Concat([x, row], -2);
        }
        ctx.SaveForBackward(x);
        return x;
    }

    protected override Tensor?[] Backward(FunctionContext ctx, Tensor gradOutput)
    {
        var xt = ctx.SavedTensors[0].MT;
        return [(-xt.MatMul(gradOutput).MatMul(xt)).Tril(-1)];
    }
}
