using Engine.Recording;

namespace Engine.Autograd;

/// <summary>
/// Derivatives of the batched matrix product and the triangular solve (batch dimensions are equal; broadcasting is
/// recorded as Expand).
/// </summary>
static class MatMulRules
{
    public static void Register(Dictionary<OpKind, DerivativeRule> rules)
    {
        // Y = A B: dA = dY B^T, dB = A^T dY.
        rules[OpKind.MatMul] = (r, y, g) =>
        {
            var (a, b) = (r.Inputs[0], r.Inputs[1]);
            return [a.RequiresGrad ? g.MatMul(b.MT) : null, b.RequiresGrad ? a.MT.MatMul(g) : null];
        };
        // Y = C + A B: dC = dY, and A, B as for MatMul.
        rules[OpKind.AddMatMul] = (r, y, g) =>
        {
            var (a, b) = (r.Inputs[1], r.Inputs[2]);
            return [g, a.RequiresGrad ? g.MatMul(b.MT) : null, b.RequiresGrad ? a.MT.MatMul(g) : null];
        };
        // X = A^-1 B: dB = A^-T dX (a solve with the transposed triangle), dA = -dB X^T restricted to the triangle
        // the solve read (from d(A^-1) = -A^-1 dA A^-1; Giles 2008, "Collected matrix derivative results").
        rules[OpKind.SolveTriangular] = (r, x, g) =>
        {
            var (a, b) = (r.Inputs[0], r.Inputs[1]);
            bool upper = r.Attributes.Upper, unit = r.Attributes.Unitriangular;
            var db = Tensor.SolveTriangular(a.MT, g, upper: !upper, unitriangular: unit);
            Tensor? da = null;
            if (a.RequiresGrad)
            {
                var full = -db.MatMul(x.MT);
                int diagonal = unit ? 1 : 0;
                da = upper ? full.Triu(diagonal) : full.Tril(-diagonal);
            }
            return [da, b.RequiresGrad ? db : null];
        };
    }
}
