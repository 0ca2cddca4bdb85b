using System.Text.RegularExpressions;
using Engine.Nn.Merging;

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

    /// <summary>
    /// PEFT's "linear": A' = Σ_i sign(w_i s_i) sqrt|w_i s_i| A_i, B' = Σ_i sqrt|w_i s_i| B_i (equal ranks). Not the
    /// weighted sum of the updates: B'A' also holds the cross terms B_i A_j (PEFT issue #643).
    /// </summary>
    Linear,

    /// <summary>PEFT's "ties": TIES (trim to the density, elect signs, disjoint mean) over the A's and, separately, the B's, weighted as <see cref="Linear"/>.</summary>
    Ties,

    /// <summary>PEFT's "dare_linear": DARE's drop and rescale, then the weighted sum, over the A's and the B's as <see cref="Linear"/>.</summary>
    DareLinear,

    /// <summary>PEFT's "dare_ties": DARE's drop and rescale, sign election and disjoint mean over the A's and the B's as <see cref="Linear"/>.</summary>
    DareTies,

    /// <summary>PEFT's "magnitude_prune": magnitude pruning to the density, then the weighted sum, over the A's and the B's as <see cref="Linear"/>.</summary>
    MagnitudePrune,

    /// <summary>PEFT's "ties_svd": ΔW = TIES over the updates w_i s_i ΔW_i, then truncated SVD as <see cref="Svd"/>.</summary>
    TiesSvd,

    /// <summary>PEFT's "dare_linear_svd": ΔW = DARE then weighted sum of w_i s_i ΔW_i, then truncated SVD as <see cref="Svd"/>.</summary>
    DareLinearSvd,

    /// <summary>PEFT's "dare_ties_svd": ΔW = DARE, sign election and disjoint mean of w_i s_i ΔW_i, then truncated SVD as <see cref="Svd"/>.</summary>
    DareTiesSvd,

    /// <summary>PEFT's "magnitude_prune_svd": ΔW = magnitude pruning then weighted sum of w_i s_i ΔW_i, then truncated SVD as <see cref="Svd"/>.</summary>
    MagnitudePruneSvd,
}

/// <summary>
/// Weighted combination of LoRA adapters into a new adapter (PEFT's <c>add_weighted_adapter</c>,
/// <c>src/peft/tuners/lora/model.py</c>), of scale 1 (alpha = r). "cat": A' = [w_1 s_1 A_1; ...; w_n s_n A_n],
/// B' = [B_1 ... B_n], so B' A' = sum_i w_i s_i B_i A_i exactly. The task-vector forms (linear, ties, dare_*,
/// magnitude_prune; PEFT's <c>_generalized_task_arithmetic_weighted_adapter</c>) combine the A's and the B's factor by
/// factor with <see cref="TaskVectorCombination"/>, the same functions as the state-dict merges. The SVD forms
/// (PEFT's <c>_svd_generalized_task_arithmetic_weighted_adapter</c>) combine the updates with it and truncate to a rank
/// (default: the largest rank among the adapters, as PEFT). As in PEFT, one adapter alone is always combined "linear"
/// (except <see cref="LoraCombinationType.SvdOfWeightedUpdates"/>, the engine's own form).
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

    /// <summary>
    /// As the "cat" overload, with the combination chosen by <paramref name="type"/>; <paramref name="svdRank"/> is the
    /// rank of the SVD forms; <paramref name="density"/> (required by the pruning forms: PEFT has no default) the fraction
    /// kept by TIES, DARE and magnitude pruning; <paramref name="majoritySign"/> TIES' sign election; DARE draws its
    /// masks from <paramref name="generator"/> (default: <see cref="Generator.Default"/>, as PEFT uses torch's global one).
    /// <code>peft.AddWeightedAdapter(["math", "code"], [1.0, 1.0], "mix", LoraCombinationType.Ties, density: 0.2);</code>
    /// </summary>
    public static void AddWeightedAdapter(this PeftModel peft, IReadOnlyList<string> adapters, IReadOnlyList<double> weights, string newName, LoraCombinationType type,
        int? svdRank = null, double? density = null, MajoritySignMethod majoritySign = MajoritySignMethod.Total, Generator? generator = null)
    {
        if (adapters.Count == 0 || adapters.Count != weights.Count)
            throw new ArgumentException($"AddWeightedAdapter: {adapters.Count} adapters and {weights.Count} weights; give one weight per adapter, at least one");
        // PEFT's _check_add_weighted_adapter: with one adapter only the linear combination is used.
        if (adapters.Count == 1 && type != LoraCombinationType.SvdOfWeightedUpdates) type = LoraCombinationType.Linear;
        var (method, svd) = Form(type);
        if (method is not TaskVectorMethod.TaskArithmetic)
        {
            if (density is not { } d) throw new ArgumentException($"AddWeightedAdapter: {type} prunes the adapters and needs a density (the fraction of entries kept, in [0, 1])");
            PruningDensity.Check($"AddWeightedAdapter {type}", d);
        }
        var combination = new Combination(method, density ?? 1, majoritySign, generator ?? Generator.Default);
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
                _ when svd => Truncate(layer, adapters, weights, type, svdRank, combination),
                _ => CombineFactors(peft.PathOf(path).External, layer, adapters, weights, combination),
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

    /// <summary>How a task-vector form combines: the method, its density, its sign election and DARE's generator.</summary>
    sealed record Combination(TaskVectorMethod Method, double Density, MajoritySignMethod MajoritySign, Generator Generator)
    {
        public Tensor Apply(IReadOnlyList<Tensor> tensors, IReadOnlyList<double> weights)
            => TaskVectorCombination.Combine(Method, tensors, weights, Density, MajoritySign, Generator);
    }

    /// <summary>The task-vector method of <paramref name="type"/>, and whether its result is an update to truncate by SVD.</summary>
    static (TaskVectorMethod Method, bool Svd) Form(LoraCombinationType type) => type switch
    {
        LoraCombinationType.Cat or LoraCombinationType.Linear => (TaskVectorMethod.TaskArithmetic, false),
        LoraCombinationType.Svd or LoraCombinationType.SvdOfWeightedUpdates => (TaskVectorMethod.TaskArithmetic, true),
        LoraCombinationType.Ties => (TaskVectorMethod.Ties, false),
        LoraCombinationType.DareLinear => (TaskVectorMethod.DareLinear, false),
        LoraCombinationType.DareTies => (TaskVectorMethod.DareTies, false),
        LoraCombinationType.MagnitudePrune => (TaskVectorMethod.MagnitudePrune, false),
        LoraCombinationType.TiesSvd => (TaskVectorMethod.Ties, true),
        LoraCombinationType.DareLinearSvd => (TaskVectorMethod.DareLinear, true),
        LoraCombinationType.DareTiesSvd => (TaskVectorMethod.DareTies, true),
        LoraCombinationType.MagnitudePruneSvd => (TaskVectorMethod.MagnitudePrune, true),
        _ => throw new ArgumentException($"AddWeightedAdapter: unknown combination {type}"),
    };

    // PEFT's _generalized_task_arithmetic_weighted_adapter: the weight w_i s_i is split as sqrt|w_i s_i| on each factor,
    // its sign on A only (so a negative weight negates the update once), and the A's and the B's are combined separately.
    static (Tensor A, Tensor B) CombineFactors(string layerName, LoraLayer layer, IReadOnlyList<string> adapters, IReadOnlyList<double> weights, Combination combination)
    {
        var ranks = adapters.Select(n => layer.LoraA(n).Size(0)).ToList();
        if (ranks.Distinct().Count() > 1)
            throw new ArgumentException($"AddWeightedAdapter: {combination.Method} needs adapters of one rank, but on '{layerName}' [{string.Join(", ", adapters)}] have ranks [{string.Join(", ", ranks)}]; use cat or an SVD form");
        var scaled = adapters.Select((n, i) => weights[i] * layer.Settings(n).Scaling).ToList();
        var onA = scaled.Select(w => (w >= 0 ? 1 : -1) * Math.Sqrt(Math.Abs(w))).ToList();
        var onB = scaled.Select(w => Math.Sqrt(Math.Abs(w))).ToList();
        var a = combination.Apply(adapters.Select(n => layer.LoraA(n).Detach()).ToList(), onA);
        var b = combination.Apply(adapters.Select(n => layer.LoraB(n).Detach()).ToList(), onB);
        return (a, b);
    }

    static (Tensor A, Tensor B) Truncate(LoraLayer layer, IReadOnlyList<string> adapters, IReadOnlyList<double> weights, LoraCombinationType type, int? svdRank, Combination combination)
    {
        // PEFT weights each delta (which holds s_i already) by w_i s_i; the engine's form by w_i.
        var scaled = adapters.Select((n, i) => type == LoraCombinationType.SvdOfWeightedUpdates ? weights[i] : weights[i] * layer.Settings(n).Scaling).ToList();
        var delta = combination.Apply(adapters.Select(n => layer.DeltaWeight(n).Detach().To(DType.Float64)).ToList(), scaled);
        int k = Math.Min(svdRank ?? adapters.Max(n => layer.Settings(n).R), Math.Min(delta.Size(0), delta.Size(1)));
        var (u, sv, vh) = Linalg.SvdTopK(delta, k);
        var dtype = layer.BaseLayer.Weight.DType;
        if (type != LoraCombinationType.SvdOfWeightedUpdates) return (vh.To(dtype), (u * sv.Unsqueeze(0)).To(dtype));
        var root = sv.Sqrt();
        return ((root.Unsqueeze(1) * vh).To(dtype), (u * root.Unsqueeze(0)).To(dtype));
    }
}
