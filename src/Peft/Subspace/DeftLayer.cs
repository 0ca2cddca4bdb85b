namespace Engine.Peft.Subspace;

/// <summary>
/// A <see cref="Linear"/> with DeFT adapters (PEFT's <c>deft.DeftLinear</c>): ΔW = Q (s R - rightᵀ W0) with
/// <c>deft_P</c> [out, r] and <c>deft_R</c> [r, in] (PaRa: ΔW = -Q rightᵀ W0, no R); (Q, right) = (P, relu P) or
/// (qr(P), qr(P)). The forward never forms ΔW: y = base(x) - ((x W0ᵀ) right) Qᵀ + (drop(x) (s R)ᵀ) Qᵀ, x W0ᵀ being the
/// bias-free base output. PEFT's init: P ~ N(0, 0.02²), R = rightᵀ W0 / s (ΔW = 0).
/// </summary>
public sealed class DeftLayer : WeightAwareAdapterLayer
{
    sealed record DeftSettings(int R, bool Qr, bool Para, double Scaling);

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public DeftLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>P [out, r].</summary>
    public Tensor P(string name) => Parameter("deft_P", name);

    /// <summary>R [r, in], or null for PaRa.</summary>
    public Tensor? R(string name) => State<DeftSettings>(name).Para ? null : Parameter("deft_R", name);

    /// <summary>(Q, right) of adapter <paramref name="name"/>: the projector is Q rightᵀ, the injection Q (s R).</summary>
    public (Tensor Q, Tensor Right) Projection(string name)
    {
        var p = P(name);
        if (!State<DeftSettings>(name).Qr) return (p, p.Relu());
        var q = DifferentiableQr.Q(p);
        return (q, q);
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<DeftConfig>();
        if (c.R < 1) throw new ArgumentException($"DeftLayer: rank must be positive at '{context.Path.External}', got {c.R}");
        int r = Math.Min(c.R, OutFeatures);
        yield return Planned("deft_P", null, OutFeatures, r);
        if (!c.Para) yield return Planned("deft_R", null, r, InFeatures);
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<DeftConfig>();
        var name = context.Name;
        // The projector has rank at most out (PEFT caps r the same way).
        int r = Math.Min(c.R, OutFeatures);
        var settings = new DeftSettings(r, c.DecompositionMethod == "qr", c.Para, c.Scaling(r));
        SetState(name, settings);
        var dtype = BaseLayer.Weight.DType;
        var g = context.Generator;
        AddDropout("deft_dropout", name, c.DeftDropout, g);
        AddParameter("deft_P", name, Tensor.Randn([OutFeatures, r], 0, 0.02, dtype, g));
        if (c.Para) return;
        Tensor rInit;
        if (c.InitWeights)
            // R = rightᵀ W0 / s makes s R - rightᵀ W0 = 0: the model starts at the base.
            using (Autograd.Autograd.NoGrad()) rInit = (Projection(name).Right.T % UnmergedWeight) * (1 / settings.Scaling);
        else rInit = Tensor.Randn([r, InFeatures], 0, 0.02 * c.InitScale, dtype, g);
        AddParameter("deft_R", name, rInit.Detach().Contiguous());
    }

    /// <summary>Q (s R - rightᵀ W) [out, in] (PaRa: -Q rightᵀ W).</summary>
    public override Tensor DeltaFor(string name, Tensor baseWeight)
    {
        var s = State<DeftSettings>(name);
        var (q, right) = Projection(name);
        var removed = right.T % baseWeight;
        return s.Para ? -(q % removed) : q % (Parameter("deft_R", name) * s.Scaling - removed);
    }

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        // x W0ᵀ: the base output without its bias, or (some adapter merged) the product with the unmerged weight.
        var product = Merged ? LinearMap(input, UnmergedWeight) : BaseLayer.Bias is { } b ? result - b : result;
        foreach (var name in adapters)
        {
            var s = State<DeftSettings>(name);
            var (q, right) = Projection(name);
            result = result - LinearMap(LinearMap(product, right.T), q);
            if (!s.Para) result = result + LinearMap(LinearMap(Dropout(name, input), Parameter("deft_R", name) * s.Scaling), q);
        }
        return result;
    }
}
