using System.Text.RegularExpressions;

namespace Engine.Peft.LowRank;

/// <summary>
/// Weighted combination of LoRA adapters into a new adapter (PEFT's <c>add_weighted_adapter</c> with
/// <c>combination_type="cat"</c>): the factors are concatenated, A' = [w_1 s_1 A_1; ...; w_n s_n A_n] and
/// B' = [B_1 ... B_n], so B' A' = sum_i w_i s_i B_i A_i exactly, with rank sum_i r_i and scale 1.
/// </summary>
public static class LoraCombination
{
    /// <summary>
    /// Adds adapter <paramref name="newName"/> whose update is the weighted sum of the updates of
    /// <paramref name="adapters"/>. All must be plain LoRA adapters (not DoRA) on the same layers.
    /// <code>peft.AddWeightedAdapter(["math", "code"], [0.7, 0.3], "mix"); peft.SetAdapter("mix");</code>
    /// </summary>
    public static void AddWeightedAdapter(this PeftModel peft, IReadOnlyList<string> adapters, IReadOnlyList<double> weights, string newName)
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
            var a = Tensor.Concat(adapters.Select((n, i) => layer.LoraA(n).Detach() * (weights[i] * layer.Settings(n).Scaling)).ToArray(), 0);
            var b = Tensor.Concat(adapters.Select(n => layer.LoraB(n).Detach()).ToArray(), 1);
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
