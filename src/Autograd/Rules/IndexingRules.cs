using Engine.Recording;

namespace Engine.Autograd;

/// <summary>Derivatives of gather, scatter-add and index-select: each is the other's adjoint.</summary>
static class IndexingRules
{
    public static void Register(Dictionary<OpKind, DerivativeRule> rules)
    {
        rules[OpKind.Gather] = (r, y, g) =>
        {
            var a = r.Attributes;
            return [Tensor.Zeros(a.Shape!, g.DType, g.Device).ScatterAdd(a.Dim, a.Index!, g)];
        };
        rules[OpKind.ScatterAdd] = (r, y, g) =>
        {
            var a = r.Attributes;
            var source = r.Inputs[1];
            var gs = g.Gather(a.Dim, a.Index!);
            // The index may cover only a corner of the source; the rest of the source did not contribute.
            var pad = new List<int>();
            for (int d = source.Rank - 1; d >= 0; d--) pad.AddRange([0, source.Shape[d] - gs.Shape[d]]);
            return [g, pad.All(p => p == 0) ? gs : gs.Pad([.. pad])];
        };
        rules[OpKind.IndexSelect] = (r, y, g) =>
        {
            var a = r.Attributes;
            return [Tensor.Zeros(a.Shape!, g.DType, g.Device).IndexAdd(a.Dim, a.Index!, g)];
        };
        rules[OpKind.IndexAdd] = (r, y, g) =>
        {
            var a = r.Attributes;
            return [g, g.IndexSelect(a.Dim, a.Index!)];
        };
    }
}
