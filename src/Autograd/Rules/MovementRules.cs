using Engine.Recording;

namespace Engine.Autograd;

/// <summary>Derivatives of ops that only move elements: each gradient is the adjoint movement of the output gradient.</summary>
static class MovementRules
{
    public static void Register(Dictionary<OpKind, DerivativeRule> rules)
    {
        rules[OpKind.Reshape] = (r, y, g) => [g.Reshape(r.Attributes.Shape!)];
        rules[OpKind.Permute] = (r, y, g) =>
        {
            var order = r.Attributes.Axes!;
            var inverse = new int[order.Length];
            for (int i = 0; i < order.Length; i++) inverse[order[i]] = i;
            return [g.Permute(inverse)];
        };
        rules[OpKind.Expand] = (r, y, g) => [DerivativeRules.SumToShape(g, r.Attributes.Shape!)];
        rules[OpKind.Slice] = (r, y, g) => [g.EmbedSlice(r.Attributes.Shape!, r.Attributes.Dim, r.Attributes.Start, r.Attributes.Step)];
        rules[OpKind.Select] = (r, y, g) =>
        {
            var a = r.Attributes;
            return [g.Unsqueeze(a.Dim).EmbedSlice(a.Shape!, a.Dim, a.Start, 1)];
        };
        rules[OpKind.EmbedSlice] = (r, y, g) =>
        {
            var a = r.Attributes;
            int n = r.Inputs[0].Shape[a.Dim];
            return [g.Slice(a.Dim, a.Start, a.Start + (n - 1) * a.Step + 1, a.Step)];
        };
        rules[OpKind.Flip] = (r, y, g) => [g.Flip(r.Attributes.Axes!)];
        rules[OpKind.Pad] = (r, y, g) => [g.Pad(r.Attributes.Shape!.Select(p => -p).ToArray())];
        rules[OpKind.Concat] = (r, y, g) => g.Split(r.Attributes.Shape!, r.Attributes.Dim).Select(t => (Tensor?)t).ToArray();
    }
}
