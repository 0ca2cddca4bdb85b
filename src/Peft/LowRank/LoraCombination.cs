using System.Text.RegularExpressions;

namespace Engine.Peft.LowRank;

/// <summary>How <see cref="LoraCombination"/> builds the combined factors.</summary>
public enum LoraCombinationType
{
    /// <summary>Concatenate the scaled factors: exact, rank sum_i r_i (PEFT's "cat").</summary>
    Cat,

    /// <summary>Truncated SVD of sum_i w_i Delta W_i to a chosen rank: the best approximation of that rank (PEFT's "svd").</summary>
    Svd,
}

/// <summary>
/// Weighted combination of LoRA adapters into a new adapter (PEFT's <c>add_weighted_adapter</c>). "cat": the factors
/// are concatenated, A' = [w_1 s_1 A_1; ...; w_n s_n A_n] and B' = [B_1 ... B_n], so B' A' = sum_i w_i s_i B_i A_i
/// exactly, with rank sum_i r_i. "svd": Delta = sum_i w_i s_i B_i A_i = U S V^T truncated to rank k, B' = U_k sqrt(S_k),
/// A' = sqrt(S_k) V_k^T (Eckart and Young 1936: the best rank-k approximation). Both with scale 1 (alpha = r).
/// </summary>
public static class LoraCombination
{
    /// <summary>
    /// Adds adapter <paramref name="newName"/> whose update is the weighted sum of the updates of
    /// <paramref name="adapters"/>. All must be plain LoRA adapters (not DoRA) on the same layers.
    /// <code>peft.AddWeightedAdapter(["math", "code"], [0.7, 0.3], "mix"); peft.SetAdapter("mix");</code>
    /// </summary>
    public static void AddWeightedAdapter(this PeftModel peft, IReadOnlyList<string> adapters, IReadOnlyList<double> weights, string newName)
        => AddWeightedAdapter(peft, adapters, weights, newName, LoraCombinationType.Cat);

    /// <summary>
    /// As the "cat" overload, with the combination chosen by <paramref name="type"/>; <paramref name="svdRank"/> is the
    /// rank of the "svd" result (default: the largest rank among the adapters, as PEFT).
    /// </summary>
    public static void AddWeightedAdapter(this PeftModel peft, IReadOnlyList<string> adapters, IReadOnlyList<double> weights, string newName, LoraCombinationType type, int? svdRank = null)
    {
        if (adapters.Count == 0 || adapters.Count != weights.Count)
            throw new ArgumentException($"AddWeightedAdapter: {adapters.Count} adapters and {weights.Count} weights; give one weight per adapter, at least one");
        if (peft.PeftConfigs.ContainsKey(newName)) throw new ArgumentException($"AddWeightedAdapter: an adapter named '{newName}' already exists");
        var configs = adapters.Select(a => peft.PeftConfigs.TryGetValue(a, out var c) && c is LoraConfig lc ? lc
            : throw new ArgumentException($"AddWeightedAdapter: '{a}' is not a LoRA adapter of this model")).ToList();
        if (configs.Any(c => c.UseDora)) throw new NotSupportedException("AddWeightedAdapter: DoRA adapters cannot be combined by concatenation (their magnitudes do not add)");

        var layers = peft.AdapterLayers().Where(l => adapters.Any(a => l.Layer.AdapterNames.Contains(a))).ToList();
        var ranks = new Dictionary<string, int>();
        foreach (var (path, adapterLayer) in layers)
        {
            var layer = (LoraLayer)adapterLayer;
            var missing = adapters.Where(a => !layer.AdapterNames.Contains(a)).ToList();
            if (missing.Count > 0)
                throw new ArgumentException($"AddWeightedAdapter: '{peft.PathOf(path).External}' has no adapter [{string.Join(", ", missing)}]; concatenation needs the same target layers");
            Tensor a, b;
            if (type == LoraCombinationType.Cat)
            {
                a = Tensor.Concat(adapters.Select((n, i) => layer.LoraA(n).Detach() * (weights[i] * layer.Settings(n).Scaling)).ToArray(), 0);
                b = Tensor.Concat(adapters.Select(n => layer.LoraB(n).Detach()).ToArray(), 1);
            }
            else
            {
                var delta = adapters.Select((n, i) => layer.DeltaWeight(n).Detach().To(DType.Float64) * weights[i]).Aggregate((x, y) => x + y);
                int k = Math.Min(svdRank ?? adapters.Max(n => layer.Settings(n).R), Math.Min(delta.Size(0), delta.Size(1)));
                var (u, sv, vh) = Linalg.SvdTopK(delta, k);
                var root = sv.Sqrt();
                var dtype = layer.BaseLayer.Weight.DType;
                a = (root.Unsqueeze(1) * vh).To(dtype);
                b = (u * root.Unsqueeze(0)).To(dtype);
            }
            int r = a.Size(0);
            layer.AddAdapterFromTensors(newName, new LoraAdapterSettings(r, r, 1, false, true, LoraInit.Default), a, b, null, configs[0].LoraDropout);
            ranks[peft.PathOf(path).External] = r;
        }
        // The file format keeps one default rank, per-layer exceptions in rank_pattern (alpha = r gives scale 1).
        int rank = ranks.Values.GroupBy(r => r).OrderByDescending(g => g.Count()).First().Key;
        var pattern = ranks.Where(kv => kv.Value != rank).ToDictionary(kv => Regex.Escape(kv.Key), kv => kv.Value);
        var config = configs[0] with
        {
            R = rank,
            LoraAlpha = rank,
            UseRsLora = false,
            InitLoraWeights = LoraInit.Default,
            RankPattern = pattern,
            AlphaPattern = pattern.ToDictionary(kv => kv.Key, kv => (double)kv.Value),
            TargetModules = layers.Select(l => peft.PathOf(l.Path).External).ToList(),
            TargetModulesRegex = null,
            LayersToTransform = null,
        };
        peft.RegisterAdapter(newName, config);
    }
}
