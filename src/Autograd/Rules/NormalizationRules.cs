using Engine.Recording;

namespace Engine.Autograd;

/// <summary>Derivative of the fused LayerNorm.</summary>
static class NormalizationRules
{
    public static void Register(Dictionary<OpKind, DerivativeRule> rules)
    {
        rules[OpKind.LayerNorm] = (r, y, g) =>
        {
            var (x, w, b) = (r.Inputs[0], r.Inputs[1], r.Inputs[2]);
            if (!GradMode.IsEnabled)
            {
                var (dx, dw, db) = Tensor.LayerNormBackward(x, w, r.Attributes.Saved![0], r.Attributes.Saved[1], g);
                return [dx, dw, db];
            }
            // Building a graph: the same formulas from recorded ops, with mean and 1/std recomputed from x so that
            // their dependence on x is differentiated too. xhat = (x - mean) rstd, dxhat = g w,
            // dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dw = sum g xhat, db = sum g.
            var mean = x.Mean(-1, keepDim: true);
            var centered = x - mean;
            var rstd = (centered.Square().Mean(-1, keepDim: true) + r.Attributes.P0).Rsqrt();
            var xhat = centered * rstd;
            var dxhat = g * w;
            var dxs = rstd * (dxhat - dxhat.Mean(-1, keepDim: true) - xhat * (dxhat * xhat).Mean(-1, keepDim: true));
            var rowAxes = Enumerable.Range(0, x.Rank - 1).ToArray();
            var dws = rowAxes.Length == 0 ? g * xhat : (g * xhat).Sum(rowAxes);
            var dbs = rowAxes.Length == 0 ? g : g.Sum(rowAxes);
            return [dxs, dws, dbs];
        };
    }
}
