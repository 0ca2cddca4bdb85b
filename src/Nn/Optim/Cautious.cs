namespace Engine.Nn;

/// <summary>
/// Cautious optimisers (Liang et al. 2024, "Cautious Optimizers: Improving Training with One Line of Code") as a
/// wrapper of any optimiser that exposes its direction (<see cref="IUpdateRule"/>: AdamW, NAdamW, Lion, MARS,
/// Adam-mini, Muon): the direction is zeroed where its sign disagrees with the gradient, <c>μ = [u⊙g > 0]</c>, and
/// rescaled by the kept fraction, <c>u ← u⊙μ/(mean(μ)+ε)</c> with the mean per tensor (structure-and-optimizers.md
/// §3.1; levanter <c>src/levanter/optim/cautious.py</c>, which adds the decay after the mask). The wrapped optimiser
/// serves only as the rule: the state, step count and checkpoint slots are this object's, in the wrapped one's
/// slot names, over the same parameter groups (the trainer's schedule sets their rates once for both).
/// The paper's configuration is Cautious AdamW with β = (0.95, 0.95).
/// </summary>
public sealed class Cautious : Optimizer
{
    readonly IUpdateRule _rule;

    public Cautious(Optimizer inner, double eps = 1e-8) : base(inner.Groups)
    {
        _rule = inner as IUpdateRule ?? throw new ArgumentException($"Cautious: {inner.GetType().Name} does not expose its update direction (IUpdateRule), so it cannot be masked");
        if (inner is Cautious) throw new ArgumentException("Cautious: the optimiser is already cautious");
        if (inner.StepCount != 0) throw new ArgumentException($"Cautious: the wrapped {inner.GetType().Name} has already taken {inner.StepCount} steps; wrap a fresh one");
        OptimizerArguments.Positive("Cautious", "eps", eps);
        Inner = inner;
        Eps = eps;
    }

    /// <summary>The optimiser whose direction is masked.</summary>
    public Optimizer Inner { get; }

    public double Eps { get; }

    protected override void BeforeUpdates() => _rule.BeginStep(Groups, StateFor);

    protected override int[] StateSlotShape(Tensor parameter, string slot) => _rule.SlotShape(parameter, slot);

    protected override void Update(ParamGroup group, Tensor p, Tensor grad, Dictionary<string, Tensor> state)
    {
        var u = _rule.Direction(group, p, grad, state, StepsOf(p));
        var agree = (u * grad).Gt(0);
        double kept = agree.To(DType.Float64).Mean().Item();
        DecoupledOptimizer.Apply(group, p, Tensor.Where(agree, u, 0) / (kept + Eps), _rule.DecoupledDecay);
    }
}
