using Engine.Recording;

namespace Engine.Autograd;

/// <summary>Derivative of the batched matrix product (batch dimensions are equal; broadcasting is recorded as Expand).</summary>
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
    }
}
