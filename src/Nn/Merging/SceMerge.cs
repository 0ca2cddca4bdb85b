namespace Engine.Nn.Merging;

/// <summary>
/// FuseChat-2's SCE merge, select–calculate–erase (Wan et al. 2024, "FuseChat: Knowledge Fusion of Chat Models",
/// FuseChat-2.0; spec adapters-other.md 20; reference fanqiwan/FuseAI
/// <c>FuseChat/mergekit/mergekit/merge_methods/sce_merging.py</c>). Per tensor, with δ_j = θ_j − θ_pivot (the pivot is
/// the base passed to <see cref="Merge"/>):
/// <list type="number">
/// <item>select: when <see cref="SelectTopK"/> &lt; 1, a mask of the k positions of largest variance of δ across the
/// targets, k = ⌊select_topk · #positions of non-zero variance⌋ (all zero when k = 0);</item>
/// <item>calculate: w_j = mean((δ_j ⊙ mask)²) / Σ_j′ (uniform when all are 0);</item>
/// <item>erase: keep δ_j[k] only where its sign is the sign of Σ_j δ_j[k] (a sum ≥ 0 counts as +; a zero δ is erased);</item>
/// <item>θ = θ_pivot + Σ_j w_j e_j δ_j / Σ_j w_j e_j, entry by entry, a zero divisor read as 1.</item>
/// </list>
/// The mask only shapes the weights w_j, not the deltas merged (the spec's "used only for weights"), and as in the
/// reference it applies to every tensor, vectors included. Reads <see cref="MergeOptions.Density"/> as select_topk
/// (default 0.1, FuseChat-2's setting; mergekit's own default is 1, no selection). Integer tensors are copied from the
/// pivot. Ties of variance at the k-th place keep the lower flat index (the reference's <c>torch.topk</c> leaves the
/// order of ties unspecified).
/// </summary>
public sealed class SceMerge : IStateDictMerge
{
    /// <summary>select_topk when <see cref="MergeOptions.Density"/> is null.</summary>
    public const double DefaultSelectTopK = 0.1;

    /// <summary>Builds the merge from <see cref="MergeOptions.Density"/> (select_topk).</summary>
    /// <exception cref="ArgumentException">A select_topk outside (0, 1].</exception>
    public SceMerge(MergeOptions? options = null)
    {
        SelectTopK = options?.Density ?? DefaultSelectTopK;
        if (!(SelectTopK > 0 && SelectTopK <= 1))
            throw new ArgumentException($"sce: select_topk (Density) is the fraction of positions whose variance sets the weights and must be in (0, 1], got {SelectTopK}");
    }

    /// <inheritdoc/>
    public string Name => "sce";

    /// <summary>Fraction of non-zero-variance positions that set the weights (1: all positions).</summary>
    public double SelectTopK { get; }

    /// <inheritdoc/>
    public Dictionary<string, Tensor> Merge(IReadOnlyDictionary<string, Tensor> baseModel, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> models)
    {
        MergeInputs.Check(Name, baseModel, models);
        var result = new Dictionary<string, Tensor>();
        foreach (var (name, b) in baseModel)
        {
            if (!MergeValues.IsMerged(b)) { result[name] = MergeValues.Copy(b); continue; }
            var deltas = MergeValues.Deltas(Name, name, baseModel, models);
            var weights = SelectAndCalculate(deltas, SelectTopK);
            var merged = MergeValues.Of(b);
            for (int k = 0; k < merged.Length; k++)
            {
                double sum = 0;
                foreach (var d in deltas) sum += d[k];
                int majority = sum >= 0 ? 1 : -1;
                double mixed = 0, divisor = 0;
                for (int j = 0; j < deltas.Length; j++)
                    if (Math.Sign(deltas[j][k]) == majority)
                    {
                        mixed += weights[j] * deltas[j][k];
                        divisor += weights[j];
                    }
                merged[k] += mixed / (divisor == 0 ? 1 : divisor);
            }
            result[name] = MergeValues.Like(merged, b);
        }
        return result;
    }

    /// <summary>Steps 1–2 for one tensor's deltas (rows, one per target): the weights w_j, summing to 1.</summary>
    internal static double[] SelectAndCalculate(double[][] deltas, double selectTopK)
    {
        int n = deltas.Length, size = deltas[0].Length;
        var mask = Enumerable.Repeat(1.0, size).ToArray();
        if (selectTopK < 1)
        {
            // Population variance over the targets at each position (torch.var(unbiased=False)).
            var variance = new double[size];
            for (int k = 0; k < size; k++)
            {
                double mean = 0, sq = 0;
                for (int j = 0; j < n; j++) mean += deltas[j][k];
                mean /= n;
                for (int j = 0; j < n; j++) sq += (deltas[j][k] - mean) * (deltas[j][k] - mean);
                variance[k] = sq / n;
            }
            int keep = (int)(selectTopK * variance.Count(v => v != 0));
            Array.Clear(mask);
            foreach (var k in Enumerable.Range(0, size).OrderByDescending(k => variance[k]).Take(keep)) mask[k] = 1;
        }
        var raw = deltas.Select(d => size == 0 ? 0 : d.Select((x, k) => x * mask[k] * x * mask[k]).Sum() / size).ToArray();
        double total = raw.Sum();
        return total == 0 ? Enumerable.Repeat(1.0 / n, n).ToArray() : raw.Select(r => r / total).ToArray();
    }
}
