namespace Engine.Nn;

/// <summary>
/// Localised stochastic-gradient Langevin dynamics (spec seeds-remaining.md §9a; Lau et al. 2023 as in
/// timaeus-research/devinterp <c>optim/sgld.py</c>): a sampler written as an optimiser. Each <see cref="Optimizer.Step"/>
/// takes the gradient g of the mean minibatch loss L_m and, per parameter w with anchor w* (its value when the sampler
/// was built),
/// <c>dw = nβ·g + γ(w − w*) + λ w</c>, <c>w ← w − (ε/2)·dw + √ε·N(0, σ²)</c>,
/// with ε the group's <see cref="ParamGroup.Lr"/> and λ its <see cref="ParamGroup.WeightDecay"/>. Its stationary law is
/// ∝ exp(−nβ L_n(w) − γ/2 |w − w*|² − λ/2 |w|²) for σ = 1 (up to the O(ε) bias of the discretisation).
/// <code>var sgld = new Sgld(model.Parameters(), stepSize: 1e-4, nBeta: Sgld.DefaultNBeta(n), localization: 100, generator: new Generator(7));</code>
/// </summary>
public sealed class Sgld : Optimizer
{
    /// <summary>The name of the state slot that holds w*.</summary>
    public const string AnchorSlot = "anchor";

    readonly Generator _generator;

    /// <summary>One group of <paramref name="parameters"/> with step size <paramref name="stepSize"/> (ε) and weight decay λ.</summary>
    public Sgld(IEnumerable<Tensor> parameters, double stepSize, double nBeta, double localization, double noiseLevel = 1, double weightDecay = 0, Generator? generator = null)
        : this([new ParamGroup(parameters, stepSize, weightDecay)], nBeta, localization, noiseLevel, generator) { }

    /// <summary>
    /// Groups with their own ε (<see cref="ParamGroup.Lr"/>) and λ. <paramref name="nBeta"/> is the inverse temperature
    /// times the sample count, given explicitly (devinterp derives it from n or, in some versions, from the batch size;
    /// <see cref="DefaultNBeta"/> is n / log n); the noise is drawn from <paramref name="generator"/> (the default one when null).
    /// </summary>
    public Sgld(IEnumerable<ParamGroup> groups, double nBeta, double localization, double noiseLevel = 1, Generator? generator = null) : base(groups)
    {
        if (!(nBeta > 0) || double.IsInfinity(nBeta)) throw new ArgumentException($"Sgld: nBeta must be positive and finite, got {nBeta}");
        if (!(localization >= 0) || double.IsInfinity(localization)) throw new ArgumentException($"Sgld: localization γ must be ≥ 0 and finite, got {localization}");
        if (!(noiseLevel >= 0) || double.IsInfinity(noiseLevel)) throw new ArgumentException($"Sgld: noiseLevel σ must be ≥ 0 and finite, got {noiseLevel}");
        foreach (var g in Groups)
            if (!(g.Lr > 0)) throw new ArgumentException($"Sgld: the step size ε (group '{g.Name}' lr) must be positive, got {g.Lr}");
        NBeta = nBeta;
        Localization = localization;
        NoiseLevel = noiseLevel;
        _generator = generator ?? Generator.Default;
        // w* is the starting point of the chain, kept as state so that a saved sampler resumes around the same point.
        using (Autograd.Autograd.NoGrad())
            foreach (var g in Groups)
                foreach (var p in g.Parameters) StateFor(p)[AnchorSlot] = p.Detach().Clone();
    }

    /// <summary>nβ, the factor of the loss gradient (n / T in devinterp).</summary>
    public double NBeta { get; }

    /// <summary>γ, the strength of the pull back to w*.</summary>
    public double Localization { get; }

    /// <summary>σ, the standard deviation of the injected noise before its √ε scaling.</summary>
    public double NoiseLevel { get; }

    /// <summary>devinterp's "adaptive" temperature T = log n, i.e. nβ = n / log n (n ≥ 2 samples).</summary>
    public static double DefaultNBeta(long n) =>
        n >= 2 ? n / Math.Log(n) : throw new ArgumentException($"Sgld.DefaultNBeta: needs at least 2 samples, got {n}");

    /// <summary>The anchor w* of <paramref name="parameter"/>.</summary>
    public Tensor AnchorOf(Tensor parameter) => StateOf(parameter, AnchorSlot)
        ?? throw new ArgumentException("Sgld.AnchorOf: the tensor is not one of this sampler's parameters");

    protected override void Update(ParamGroup group, Tensor p, Tensor grad, Dictionary<string, Tensor> state)
    {
        // dw = nβ ∇L_m(w) + γ (w − w*) [+ λ w]   (devinterp's SGLD, coupled weight decay)
        var dw = grad * NBeta;
        if (Localization != 0) dw = dw + (p - state[AnchorSlot]) * Localization;
        if (group.WeightDecay != 0) dw = dw + p * group.WeightDecay;
        // w ← w − (ε/2) dw + √ε N(0, σ²)
        var next = p - dw * (0.5 * group.Lr);
        if (NoiseLevel != 0) next = next + Tensor.Randn(p.Shape, 0, NoiseLevel, p.DType, _generator, p.Device) * Math.Sqrt(group.Lr);
        p.CopyFrom(next);
    }
}
