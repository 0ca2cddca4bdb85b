using System.Text.RegularExpressions;

namespace Engine.Peft.LowRank;

/// <summary>How <see cref="LoraCombination"/> builds the combined factors.</summary>
public enum LoraCombinationType
{
    /// <summary>Concatenate the scaled factors: exact, rank sum_i r_i (PEFT's "cat").</summary>
    Cat,

    /// <summary>
    /// PEFT's "svd", number for number: Delta = sum_i (w_i s_i) ΔW_i with ΔW_i = s_i B_i A_i (PEFT weights the deltas,
    /// which already carry their scale, by w_i s_i once more), truncated SVD to rank k, B' = U_k S_k, A' = V_k^T.
    /// Files agree with PEFT's.
    /// </summary>
    Svd,

    /// <summary>
    /// The engine's form: the best rank-k approximation of the weighted sum of the updates themselves,
    /// sum_i w_i ΔW_i (Eckart and Young 1936), S split evenly, B' = U_k sqrt(S_k), A' = sqrt(S_k) V_k^T. Differs from
    /// PEFT's "svd" whenever an adapter's scale is not 1.
    /// </summary>
    SvdOfWeightedUpdates,
}

/// <summary>
/// Weighted combination of LoRA adapters into a new adapter (PEFT's <c>add_weighted_adapter</c>), of scale 1
/// (alpha = r). "cat": A' = [w_1 s_1 A_1; ...; w_n s_n A_n], B' = [B_1 ... B_n], so B' A' = sum_i w_i s_i B_i A_i
/// exactly. The SVD forms truncate to a rank (default: the largest rank among the adapters, as PEFT).
/// </summary>
public static class LoraCombination
{
    /// <summary>
    /// Adds adapter <paramref name="newName"/> whose update is the weighted sum of the updates of
    /// <paramref name="adapters"/> by concatenation. All must be plain LoRA adapters (not DoRA) on the same layers.
    /// <code>peft.AddWeightedAdapter(["math", "code"], [0.7, 0.3], "mix"); peft.SetAdapter("mix");</code>
    /// </summary>
    public static void AddWeightedAdapter(this PeftModel peft, IReadOnlyList<string> adapters, IReadOnlyList<double> weights, string newName)
        => AddWeightedAdapter(peft, adapters, weights, newName, LoraCombinationType.Cat);

    /// <summary>As the "cat" overload, with the combination chosen by <paramref name="type"/>; <paramref name="svdRank"/> is the rank of the SVD forms.</summary>
    public static void AddWeightedAdapter(this PeftModel peft, IReadOnlyList<string> adapters, IReadOnlyList<double> weights, string newName, LoraCombinationType type, int? svdRank = null)
    {
        if (adapters.Count == 0 || adapters.Count != weights.Count)
            throw new ArgumentException($"AddWeightedAdapter: {adapters.Count} adapters and {weights.Count} weights; give one weight per adapter, at least one");
        if (peft.PeftConfigs.ContainsKey(newName)) throw new ArgumentException($"AddWeightedAdapter: an adapter named '{newName}' already exists");
        var configs = adapters.Select(a => peft.PeftConfigs.TryGetValue(a, out var c) && c is LoraConfig lc ? lc
            : throw new ArgumentException($"AddWeightedAdapter: '{a}' is not a LoRA adapter of this model")).ToList();
        if (configs.Any(c => c.UseDora)) throw new NotSupportedException("AddWeightedAdapter: DoRA adapters cannot be combined (their magnitudes do not add)");
        // KaSA's diagonal and BD-LoRA's blocks are not the plain factors this concatenates (PEFT refuses both too).
        if (configs.Any(c => c.KasaConfig is not null || c.UseBdlora is not null))
            throw new NotSupportedException("AddWeightedAdapter: KaSA (kasa_config) and BD-LoRA (use_bdlora) adapters cannot be combined");
        // PEFT gives the combination the first adapter's invocation; the engine refuses rather than guess which applies.
        if (configs.Any(c => c.AloraInvocationTokens is { Count: > 0 }))
            throw new NotSupportedException("AddWeightedAdapter: aLoRA (alora_invocation_tokens) adapters cannot be combined: each applies only from its own invocation on");

        var layers = peft.AdapterLayers().Where(l => adapters.Any(a => l.Layer.AdapterNames.Contains(a))).ToList();
        var factors = new List<(string Path, LoraLayer Layer, Tensor A, Tensor B)>();
        foreach (var (path, adapterLayer) in layers)
        {
            var layer = (LoraLayer)adapterLayer;
            var missing = adapters.Where(a => !layer.AdapterNames.Contains(a)).ToList();
            if (missing.Count > 0)
                throw new ArgumentException($"AddWeightedAdapter: '{peft.PathOf(path).External}' has no adapter [{string.Join(", ", missing)}]; the combination needs the same target layers");
            var (a, b) = type switch
            {
                LoraCombinationType.Cat => (
                    Tensor.Concat(adapters.Select((n, i) => layer.LoraA(n).Detach() * (weights[i] * layer.Settings(n).Scaling)).ToArray(), 0),
                    Tensor.Concat(adapters.Select(n => layer.LoraB(n).Detach()).ToArray(), 1)),
                _ => Truncate(layer, adapters, weights, type, svdRank),
            };
            factors.Add((path, layer, a, b));
        }
        var ranks = factors.ToDictionary(f => peft.PathOf(f.Path).External, f => f.A.Size(0));
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
            TargetModules = ModuleSelector.Create(factors.Select(f => peft.PathOf(f.Path).External).ToArray()),
            LayersToTransform = null,
        };
        foreach (var (path, layer, a, b) in factors)
        {
            layer.AddAdapter(new AdapterContext(newName, config, peft.PathOf(path), peft, null));
            layer.SetFactors(newName, a, b);
        }
        peft.RegisterAdapter(newName, config);
    }

    static (Tensor A, Tensor B) Truncate(LoraLayer layer, IReadOnlyList<string> adapters, IReadOnlyList<double> weights, LoraCombinationType type, int? svdRank)
    {
        // PEFT weights each delta (which holds s_i already) by w_i s_i; the engine's form by w_i.
        var delta = adapters.Select((n, i) => layer.DeltaWeight(n).Detach().To(DType.Float64)
            * (type == LoraCombinationType.Svd ? weights[i] * layer.Settings(n).Scaling : weights[i])).Aggregate((x, y) => x + y);
        int k = Math.Min(svdRank ?? adapters.Max(n => layer.Settings(n).R), Math.Min(delta.Size(0), delta.Size(1)));
        var (u, sv, vh) = Linalg.SvdTopK(delta, k);
        var dtype = layer.BaseLayer.Weight.DType;
        if (type == LoraCombinationType.Svd) return (vh.To(dtype), (u * sv.Unsqueeze(0)).To(dtype));
        var root = sv.Sqrt();
        return ((root.Unsqueeze(1) * vh).To(dtype), (u * root.Unsqueeze(0)).To(dtype));
    }
}
