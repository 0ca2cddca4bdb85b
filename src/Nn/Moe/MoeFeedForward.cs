namespace Engine.Nn;

/// <summary>
/// A token-choice mixture-of-experts feed-forward layer (Shazeer et al. 2017; Switch Transformers, Fedus et al. 2022;
/// Mixtral, Jiang et al. 2024), spec structure-and-optimizers.md 2.1; the layout of Hugging Face's
/// <c>MixtralSparseMoeBlock</c> and CLIP-MoE's <c>clipmoe/model_clipmoe.py</c>: a bias-free router z = x W_g, p = softmax(z)
/// in Float32 (Float64 inputs stay Float64), each token's top-k experts (<see cref="RouterDecision"/>), combine weights
/// p_topk (Switch) or p_topk / Σ p_topk (Mixtral), y = Σ_{e ∈ topk} w_e · FFN_e(x). Each expert runs once on the rows
/// routed to it: one gather (IndexSelect) of all routed rows grouped by expert, one FFN call per expert on its slice,
/// one weighted scatter-add (IndexAdd) back — no loop over tokens. With a capacity, assignments beyond an expert's C
/// contribute nothing (the block's residual carries the token).
/// In training, under <see cref="AuxiliaryLosses.Collect"/>, adds <c>moe_balance</c> = coef · E · Σ_{j,e} f_{j,e} P_e
/// (Mixtral's top-k form; the gradient flows through P only) and <c>moe_z</c> = coef · mean (logsumexp z)² (ST-MoE).
/// Parameter names: <c>router.weight</c> [E, d], <c>experts.{e}.fc/proj.*</c>, <c>shared.fc/proj.*</c> with a shared expert.
/// <code>
/// var moe = new MoeFeedForward(128, 512, new MoeOptions(Experts: 4, TopK: 2));
/// var y = moe.Forward(x);                 // [.., 128]
/// var loads = moe.LastDecision!.Loads;    // share of assignments per expert
/// </code>
/// </summary>
public sealed class MoeFeedForward : Module
{
    readonly Generator? _generator;

    /// <summary>A layer of width <paramref name="dModel"/> whose experts have <paramref name="hidden"/> hidden units each.</summary>
    /// <exception cref="ArgumentException">The options are invalid (<see cref="MoeOptions.Problem"/>) or a size is not positive.</exception>
    public MoeFeedForward(int dModel, int hidden, MoeOptions options, bool geluTanh = true, double dropout = 0, Generator? generator = null)
    {
        if (options.Problem() is { } problem) throw new ArgumentException($"MoeFeedForward: {problem}");
        if (dModel < 1 || hidden < 1) throw new ArgumentException($"MoeFeedForward: dModel {dModel} and hidden {hidden} must be positive");
        DModel = dModel;
        Hidden = hidden;
        Options = options;
        _generator = generator;
        RegisterModule("router", new Linear(dModel, options.Experts, bias: false, generator));
        RegisterModule("experts", new ModuleList<Mlp>(Enumerable.Range(0, options.Experts)
            .Select(_ => new Mlp(dModel, hidden, new GELU(geluTanh), dropout, generator)).ToList()));
        if (options.SharedExpert) RegisterModule("shared", new Mlp(dModel, hidden, new GELU(geluTanh), dropout, generator));
    }

    /// <summary>Width d.</summary>
    public int DModel { get; }

    /// <summary>Hidden units of each expert.</summary>
    public int Hidden { get; }

    /// <summary>The routing settings.</summary>
    public MoeOptions Options { get; }

    /// <summary>The router W_g (a bias-free Linear d → E).</summary>
    public Linear Router => Unwrapped<Linear>("router");

    /// <summary>The routed experts.</summary>
    public ModuleList<Mlp> Experts => Unwrapped<ModuleList<Mlp>>("experts");

    /// <summary>The always-on expert, or null without one.</summary>
    public Mlp? Shared => Options.SharedExpert ? Unwrapped<Mlp>("shared") : null;

    /// <summary>The routing of the last forward pass (loads, drops), or null before the first.</summary>
    public RouterDecision? LastDecision { get; private set; }

    /// <summary>Receives every routing decision (spec 2.4's observer hook); null for none.</summary>
    public IMoeRouterObserver? Observer { get; set; }

    /// <summary>
    /// b [E] added to the router logits, z_e += b_e, before the softmax (spec 2.4's inference intervention: promoting task
    /// experts in the middle layers); null for none. It changes the routing and the combine weights and is left out of
    /// the z-loss, which regularises the model's own logits.
    /// </summary>
    public double[]? RouterLogitBias
    {
        get => _bias;
        set
        {
            if (value is not null && value.Length != Options.Experts)
                throw new ArgumentException($"MoeFeedForward.RouterLogitBias: needs one value per expert ({Options.Experts}), got {value.Length}");
            _bias = value;
        }
    }

    double[]? _bias;

    /// <summary>x [..., d] to [..., d].</summary>
    public override Tensor Forward(Tensor x)
    {
        if (x.Rank < 1 || x.Size(-1) != DModel)
            throw new ArgumentException($"MoeFeedForward: input {Shapes.Format(x.Shape)} must end in the width {DModel}");
        var shape = x.Shape;
        var flat = x.Reshape(-1, DModel);
        int n = flat.Size(0), experts = Options.Experts, k = Options.TopK;

        // Spec 2.1: the router runs in Float32 (Float64 kept, for gradient checks) so that softmax and logsumexp are exact enough.
        var logits = Child("router").Forward(flat);
        if (logits.DType != DType.Float64) logits = logits.To(DType.Float32);
        if (Training && Options.RouterNoise > 0)
            logits = logits + Tensor.Randn(logits.Shape, 0, Options.RouterNoise, logits.DType, _generator, logits.Device);
        var routed = _bias is null ? logits : logits + Tensor.FromArray(_bias).To(logits.DType).To(logits.Device);
        var probs = routed.Softmax(-1);

        var decision = RouterDecision.Route(probs.ToDoubleArray(), n, experts, k, Options.Capacity(n, Training));
        LastDecision = decision;
        Observer?.Observe(this, decision);

        var choices = Tensor.FromArray(decision.Choices.Select(c => (long)c).ToArray(), [n, k]).To(x.Device);
        var weights = probs.Gather(1, choices);
        if (Options.Renormalize) weights = weights / weights.Sum(-1, keepDim: true);

        var output = RoutedExperts(flat, weights.Reshape(-1), decision);
        if (Options.SharedExpert) output = output + Child("shared").Forward(flat);
        if (Training && AuxiliaryLosses.Collecting) AddLosses(logits, probs, decision);
        return output.Reshape(shape);
    }

    // All kept assignments grouped by expert (expert-major, slot-major then token order inside an expert): one gather,
    // one FFN call per expert on its contiguous slice, one weighted index-add.
    Tensor RoutedExperts(Tensor flat, Tensor weights, RouterDecision decision)
    {
        int n = decision.Tokens, k = decision.TopK, experts = decision.Experts;
        var counts = decision.Processed;
        var start = new int[experts + 1];
        for (int e = 0; e < experts; e++) start[e + 1] = start[e] + counts[e];
        var rows = new long[start[experts]];
        var slots = new long[start[experts]];
        var next = (int[])start[..experts].Clone();
        for (int j = 0; j < k; j++)
            for (int t = 0; t < n; t++)
            {
                int slot = t * k + j;
                if (!decision.Kept[slot]) continue;
                int at = next[decision.Choices[slot]]++;
                rows[at] = t;
                slots[at] = slot;
            }
        var output = Tensor.Zeros([n, DModel], flat.DType, flat.Device);
        if (rows.Length == 0) return output;
        var rowIndex = Tensor.FromArray(rows).To(flat.Device);
        var gathered = flat.IndexSelect(0, rowIndex);
        var list = Experts;
        var parts = new List<Tensor>(experts);
        for (int e = 0; e < experts; e++)
            if (counts[e] > 0) parts.Add(list[e].Forward(gathered.Narrow(0, start[e], counts[e])));
        var computed = parts.Count == 1 ? parts[0] : Tensor.Concat([.. parts], 0);
        var w = weights.IndexSelect(0, Tensor.FromArray(slots).To(flat.Device)).Unsqueeze(-1);
        return output.IndexAdd(0, rowIndex, computed * w.To(computed.DType));
    }

    // Spec 2.1: L_bal = E · Σ_{j,e} f_{j,e} P_e (f constant: counted choices) and L_z = mean_t (logsumexp_e z_te)².
    void AddLosses(Tensor logits, Tensor probs, RouterDecision decision)
    {
        int experts = decision.Experts;
        if (Options.BalanceCoefficient > 0)
        {
            var f = decision.SlotFractions();
            var perExpert = new double[experts];
            for (int i = 0; i < f.Length; i++) perExpert[i % experts] += f[i];
            var fTensor = Tensor.FromArray(perExpert).To(probs.DType).To(probs.Device);
            AuxiliaryLosses.Add("moe_balance", (probs.Mean(0) * fTensor).Sum() * (Options.BalanceCoefficient * experts));
        }
        if (Options.ZLossCoefficient > 0)
        {
            var lse = logits.LogSumExp(-1);
            AuxiliaryLosses.Add("moe_z", (lse * lse).Mean() * Options.ZLossCoefficient);
        }
    }
}
