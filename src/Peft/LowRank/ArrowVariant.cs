using System.Text.RegularExpressions;
using Engine.Peft.Spectral;

namespace Engine.Peft.LowRank;

/// <summary>
/// Arrow routing (Ostapenko et al. 2024, arXiv:2405.11157, section 4; PEFT's <c>ArrowLinearVariant</c> in
/// lora/variants.py and <c>ArrowLoraLinearLayer</c> in lora/arrow.py): the router adapter mixes the other LoRA adapters
/// of its layer, the experts, token by token. Each expert e has a prototype p_e, the top right singular vector of
/// B_e A_e (power iteration on Aᵀ(BᵀB)A, 15 steps from torch's randn of <c>rng_seed</c>); a token x scores |x·p_e|
/// (the absolute value: a singular vector's sign is arbitrary), keeps its top_k experts, and weighs them by the
/// softmax of score / router_temperature; the router adds dropout(Σ_e c_e s_e B_e A_e x). Its own lora_A and lora_B
/// exist and are saved (PEFT's router is a LoRA adapter of rank r) but take no part. GenKnowSub (Belofsky et al. 2025)
/// first subtracts the mean A and the mean B of the general adapters from every expert's A and B, in place and once.
/// As PEFT, both happen lazily at the first forward: experts are the layer's adapters other than routers and general
/// ones (<c>gks_&lt;n&gt;</c>); when that set changes, prototypes are rebuilt and new experts get GenKnowSub. A router
/// cannot merge: no single weight stands for a per-token mixture.
/// Why a variant and not a layer: PEFT makes the router a LoRA adapter (peft_type LORA, same keys), and it lives on
/// the LoRA layer beside the experts it reads, so the strategy hook on <see cref="LoraLayer"/> is where it belongs.
/// </summary>
public sealed partial class ArrowVariant(ArrowConfig config) : ILoraVariant
{
    /// <summary>The name <see cref="Arrow.CreateModel{T}"/> gives the router (PEFT's).</summary>
    public const string RouterName = "arrow_router";

    /// <summary>PEFT's power-iteration length and the guard added to norms.</summary>
    const int PowerIterations = 15;
    const double Eps = 1e-8;

    readonly HashSet<string> _subtracted = new(StringComparer.Ordinal);
    readonly Lock _lock = new();
    List<string> _experts = [];
    Tensor? _prototypes;
    ulong _fallbackSeed;

    /// <summary>The options this router was added with.</summary>
    public ArrowConfig Config => config;

    /// <summary>The experts the prototypes were built for, in the layer's order (empty before the first forward).</summary>
    public IReadOnlyList<string> Experts => _experts;

    /// <summary>The prototypes [experts, in] of the last forward, or null before it (PEFT's non-persistent buffer: never saved).</summary>
    public Tensor? Prototypes => _prototypes;

    /// <inheritdoc/>
    public void Init(LoraLayer layer, string name, Generator generator) =>
        // With rng_seed null PEFT draws the start from torch's global generator, which no file records; the engine
        // takes a seed from the adapter's own stream instead (deterministic for the config's seed and the layer).
        _fallbackSeed = generator.Seed ^ generator.Take(1);

    /// <summary>True for the general adapters GenKnowSub uses (PEFT's <c>gks_&lt;digits&gt;</c>), which are never experts.</summary>
    public static bool IsGeneralName(string name) => GeneralName().IsMatch(name);

    [GeneratedRegex("^gks_[0-9]+$")]
    private static partial Regex GeneralName();

    /// <summary>The layer's experts now: its adapters other than Arrow routers and general adapters, in the order they were added.</summary>
    public static IReadOnlyList<string> ExpertsOf(LoraLayer layer) =>
        layer.AdapterNames.Where(n => layer.Settings(n).Variant is not ArrowVariant && !IsGeneralName(n)).ToList();

    /// <inheritdoc/>
    public Tensor? DeltaWeight(LoraLayer layer, string name) => throw NotMergeable(name);

    /// <inheritdoc/>
    public Tensor Merge(LoraLayer layer, string name, Tensor weight) => throw NotMergeable(name);

    /// <inheritdoc/>
    public Tensor Unmerge(LoraLayer layer, string name, Tensor weight) => throw NotMergeable(name);

    /// <inheritdoc/>
    public string? MergeRefusal => "it is an Arrow router: each token mixes its own top-k experts, so no single weight stands for it (PEFT: \"Cannot merge an active Arrow router adapter. Remove it first.\")";

    NotSupportedException NotMergeable(string name) => new($"Arrow: cannot merge adapter '{name}': {MergeRefusal}");

    /// <inheritdoc/>
    public Tensor Forward(LoraLayer layer, string name, Tensor input, Tensor result) =>
        // PEFT applies the router's dropout to the mixed update, not to the input.
        result + layer.VariantDropout(name, Contribution(layer, name, input));

    /// <summary>The routed update Σ_e c_e s_e B_e A_e x for <paramref name="x"/> [..., in], before the router's dropout.</summary>
    public Tensor Contribution(LoraLayer layer, string name, Tensor x)
    {
        var (experts, prototypes) = Prepare(layer, name);
        var tokens = x.To(layer.LoraA(experts[0]).DType).Reshape(-1, layer.InFeatures);
        var coefficients = RoutingWeights(tokens, prototypes, config.TopK, config.RouterTemperature);
        Tensor? delta = null;
        for (int e = 0; e < experts.Count; e++)
        {
            var expert = experts[e];
            var y = layer.FactorB(expert).Forward(layer.FactorA(expert).Forward(tokens)) * layer.Settings(expert).Scaling;
            var term = coefficients.Narrow(1, e, 1) * y;
            delta = delta is null ? term : delta + term;
        }
        var shape = x.Shape;
        shape[^1] = layer.OutFeatures;
        return delta!.Reshape(shape);
    }

    /// <summary>
    /// The routing coefficients [tokens, experts] of <paramref name="tokens"/> [tokens, in] for <paramref name="prototypes"/>
    /// [experts, in]: the softmax of |x·p_e| / <paramref name="temperature"/> over each token's <paramref name="topK"/>
    /// experts, zero elsewhere; differentiable in the tokens.
    /// </summary>
    public static Tensor RoutingWeights(Tensor tokens, Tensor prototypes, int topK, double temperature)
    {
        int t = tokens.Size(0), experts = prototypes.Size(0), k = topK;
        var scores = (tokens % prototypes.To(tokens.DType).To(tokens.Device).T).Abs();
        // torch.topk, then -inf outside the kept scores: their softmax weight is exactly zero.
        var values = scores.Detach().ToDoubleArray();
        var mask = new double[t * experts];
        var order = new int[experts];
        for (int i = 0; i < t; i++)
        {
            for (int e = 0; e < experts; e++) order[e] = e;
            int row = i * experts;
            Array.Sort(order, (a, b) => values[row + b].CompareTo(values[row + a]) is var c && c != 0 ? c : a.CompareTo(b));
            for (int j = k; j < experts; j++) mask[row + order[j]] = double.NegativeInfinity;
        }
        var minus = Tensor.FromArray(mask, [t, experts]).To(scores.DType).To(scores.Device);
        return (scores / temperature + minus).Softmax(1);
    }

    /// <summary>
    /// Brings the router up to date with its layer, as PEFT's forward does lazily: GenKnowSub on experts not yet
    /// purified, then the prototypes when the set of experts changed since they were built.
    /// </summary>
    /// <returns>The experts and their prototypes [experts, in].</returns>
    /// <exception cref="InvalidOperationException">The layer holds no expert, fewer than top_k, or lacks a general adapter.</exception>
    public (IReadOnlyList<string> Experts, Tensor Prototypes) Prepare(LoraLayer layer, string name)
    {
        // One forward at a time brings the state up to date (GenKnowSub must not run twice).
        lock (_lock) return PrepareLocked(layer, name);
    }

    (IReadOnlyList<string> Experts, Tensor Prototypes) PrepareLocked(LoraLayer layer, string name)
    {
        var experts = ExpertsOf(layer).ToList();
        var where = layer.PathOf(name).External;
        if (experts.Count == 0)
            throw new InvalidOperationException($"Arrow: router '{name}' on '{where}' has no expert: load the task LoRA adapters onto this layer first (Arrow.CreateModel)");
        if (config.TopK > experts.Count)
            throw new InvalidOperationException($"Arrow: arrow_config.top_k = {config.TopK} exceeds the {experts.Count} experts on '{where}' ({string.Join(", ", experts)})");
        if (config.UseGks) SubtractGeneralKnowledge(layer, experts, where);
        if (_prototypes is null || !experts.SequenceEqual(_experts))
        {
            _prototypes = BuildPrototypes(layer, experts);
            _experts = experts;
        }
        return (_experts, _prototypes);
    }

    // GenKnowSub (Belofsky et al. 2025; PEFT's gen_know_sub): A_e -= mean_g A_g and B_e -= mean_g B_g, once per expert.
    void SubtractGeneralKnowledge(LoraLayer layer, IReadOnlyList<string> experts, string where)
    {
        var pending = experts.Where(e => !_subtracted.Contains(e)).ToList();
        if (pending.Count == 0) return;
        var general = config.GksAdapterNames!;
        foreach (var g in general)
            if (!layer.AdapterNames.Contains(g))
                throw new InvalidOperationException($"Arrow: general adapter '{g}' (arrow_config.gks_adapter_names) is not on '{where}'");
        using var _ = Autograd.Autograd.NoGrad();
        var meanA = Mean(general.Select(layer.LoraA));
        var meanB = Mean(general.Select(layer.LoraB));
        foreach (var e in pending)
        {
            if (!layer.LoraA(e).Shape.SequenceEqual(meanA.Shape) || !layer.LoraB(e).Shape.SequenceEqual(meanB.Shape))
                throw new InvalidOperationException($"Arrow: expert '{e}' on '{where}' has other shapes than the general adapters; GenKnowSub needs equal ranks");
            layer.SetFactors(e, layer.LoraA(e).Detach().To(DType.Float64) - meanA, layer.LoraB(e).Detach().To(DType.Float64) - meanB);
            _subtracted.Add(e);
        }
    }

    static Tensor Mean(IEnumerable<Tensor> factors)
    {
        var list = factors.Select(f => f.Detach().To(Device.Cpu).To(DType.Float64)).ToList();
        var sum = list[0];
        foreach (var f in list.Skip(1))
        {
            if (!f.Shape.SequenceEqual(sum.Shape)) throw new InvalidOperationException("Arrow: the general adapters have different shapes; GenKnowSub averages equal ranks");
            sum = sum + f;
        }
        return sum / list.Count;
    }

    Tensor BuildPrototypes(LoraLayer layer, IReadOnlyList<string> experts)
    {
        int n = layer.InFeatures;
        ulong seed = config.RngSeed is { } s ? unchecked((ulong)s) : _fallbackSeed;
        var data = new double[experts.Count * n];
        for (int e = 0; e < experts.Count; e++)
            TopRightSingularVector(layer.LoraA(experts[e]), layer.LoraB(experts[e]), seed).CopyTo(data, e * n);
        var a = layer.LoraA(experts[0]);
        return Tensor.FromArray(data, [experts.Count, n]).To(a.DType).To(a.Device);
    }

    /// <summary>
    /// PEFT's <c>top_right_singular_vec_from_BA</c>: 15 power-iteration steps v ← M v / (‖M v‖ + 1e-8) with
    /// M = Aᵀ(BᵀB)A = (BA)ᵀ(BA), never forming BA, from torch's randn(in) of <paramref name="seed"/> normalised the same way
    /// (in float64 here, float32 in PEFT). 15 steps need not converge, so the start matters: it is torch's.
    /// </summary>
    public static double[] TopRightSingularVector(Tensor a, Tensor b, ulong seed)
    {
        using var _ = Autograd.Autograd.NoGrad();
        var a64 = a.Detach().To(Device.Cpu).To(DType.Float64);
        var b64 = b.Detach().To(Device.Cpu).To(DType.Float64);
        var gram = b64.T % b64;
        var start = TorchRandn.Draw(a.Size(1), seed);
        var v = Tensor.FromArray(start.Select(x => (double)x).ToArray(), [start.Length, 1]);
        v = v / (Norm(v) + Eps);
        for (int i = 0; i < PowerIterations; i++)
        {
            var w = a64.T % (gram % (a64 % v));
            v = w / (Norm(w) + Eps);
        }
        return v.ToDoubleArray();
    }

    static double Norm(Tensor v) => Math.Sqrt((v * v).Sum().Item());
}
