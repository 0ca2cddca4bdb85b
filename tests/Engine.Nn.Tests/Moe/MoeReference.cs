namespace Engine.Nn.Tests.Moe;

/// <summary>
/// A per-token mixture of experts written with loops over doubles (spec structure-and-optimizers.md 2.1), independent
/// of the layer's gather/scatter path: softmax by hand, top-k by a stable sort, capacity by counting, each expert's FFN
/// by <see cref="TestSupport.NaiveLinear"/> and GPT-2's tanh GELU formula.
/// </summary>
static class MoeReference
{
    public sealed record Result(double[] Output, int[] Choices, bool[] Kept, double Balance, double ZLoss);

    public static Result Forward(MoeFeedForward layer, double[] x, int n)
    {
        int d = layer.DModel, h = layer.Hidden, experts = layer.Options.Experts, k = layer.Options.TopK;
        var wg = layer.Router.Weight.ToDoubleArray();
        var logits = TestSupport.NaiveLinear(x, n, wg, null, d, experts);
        var probs = new double[n * experts];
        double z = 0;
        for (int t = 0; t < n; t++)
        {
            double max = Enumerable.Range(0, experts).Max(e => logits[t * experts + e]);
            double sum = Enumerable.Range(0, experts).Sum(e => Math.Exp(logits[t * experts + e] - max));
            for (int e = 0; e < experts; e++) probs[t * experts + e] = Math.Exp(logits[t * experts + e] - max) / sum;
            double lse = max + Math.Log(sum);
            z += lse * lse / n;
        }
        var choices = new int[n * k];
        for (int t = 0; t < n; t++)
        {
            var order = Enumerable.Range(0, experts).OrderByDescending(e => probs[t * experts + e]).ThenBy(e => e).ToArray();
            for (int j = 0; j < k; j++) choices[t * k + j] = order[j];
        }
        int? capacity = layer.Options.Capacity(n, layer.Training);
        var kept = new bool[n * k];
        var used = new int[experts];
        for (int j = 0; j < k; j++)
            for (int t = 0; t < n; t++)
            {
                int e = choices[t * k + j];
                if (capacity is { } c && used[e] == c) continue;
                used[e]++;
                kept[t * k + j] = true;
            }
        var y = new double[n * d];
        for (int t = 0; t < n; t++)
        {
            var row = x.AsSpan(t * d, d).ToArray();
            double norm = layer.Options.Renormalize ? Enumerable.Range(0, k).Sum(j => probs[t * experts + choices[t * k + j]]) : 1;
            for (int j = 0; j < k; j++)
            {
                if (!kept[t * k + j]) continue;
                int e = choices[t * k + j];
                double w = probs[t * experts + e] / norm;
                var out1 = Ffn(layer.Experts[e], row, d, h);
                for (int i = 0; i < d; i++) y[t * d + i] += w * out1[i];
            }
            if (layer.Shared is { } shared)
            {
                var out2 = Ffn(shared, row, d, h);
                for (int i = 0; i < d; i++) y[t * d + i] += out2[i];
            }
        }
        // Mixtral's top-k balance loss: E · Σ_{j,e} f_{j,e} P_e.
        double balance = 0;
        for (int e = 0; e < experts; e++)
        {
            double pe = Enumerable.Range(0, n).Average(t => probs[t * experts + e]);
            double fe = Enumerable.Range(0, n * k).Count(i => choices[i] == e) / (double)n;
            balance += experts * fe * pe;
        }
        return new Result(y, choices, kept, balance, z);
    }

    static double[] Ffn(Mlp mlp, double[] row, int d, int h)
    {
        var hidden = TestSupport.NaiveLinear(row, 1, mlp.Fc.Weight.ToDoubleArray(), mlp.Fc.Bias!.ToDoubleArray(), d, h);
        for (int i = 0; i < h; i++) hidden[i] = GeluTanh(hidden[i]);
        return TestSupport.NaiveLinear(hidden, 1, mlp.Proj.Weight.ToDoubleArray(), mlp.Proj.Bias!.ToDoubleArray(), h, d);
    }

    public static double GeluTanh(double v) => 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));

    /// <summary>The smallest gap between a token's k-th and (k+1)-th probability: gradient checks need it well above their step.</summary>
    public static double TopKMargin(double[] probs, int n, int experts, int k)
    {
        double margin = double.MaxValue;
        for (int t = 0; t < n; t++)
        {
            var sorted = probs.Skip(t * experts).Take(experts).OrderByDescending(p => p).ToArray();
            for (int j = 0; j < experts - 1; j++) margin = Math.Min(margin, sorted[j] - sorted[j + 1]);
        }
        return margin;
    }
}
