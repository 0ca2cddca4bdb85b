namespace Engine.Nn;

/// <summary>
/// Base of the optimisers written as an <see cref="IUpdateRule"/> (NAdamW, Lion, MARS, Adam-mini, Muon): each step
/// applies the spec's skeleton <c>θ ← θ − η(u + λθ)</c> with the group's rate η (set by the trainer's schedule) and
/// decay λ (zero in the no-decay group), the PyTorch/optax decoupled convention of structure-and-optimizers.md.
/// Gradient clipping stays the trainer's (<see cref="TrainerOptions.MaxGradNorm"/>), as levanter clips before the rule.
/// </summary>
public abstract class DecoupledOptimizer : Optimizer, IUpdateRule
{
    protected DecoupledOptimizer(IEnumerable<ParamGroup> groups) : base(groups) { }

    public bool DecoupledDecay => true;

    /// <inheritdoc/>
    public abstract Tensor Direction(ParamGroup group, Tensor parameter, Tensor grad, Dictionary<string, Tensor> state, long step);

    /// <inheritdoc/>
    public virtual void BeginStep(IReadOnlyList<ParamGroup> groups, Func<Tensor, Dictionary<string, Tensor>> stateOf) { }

    /// <inheritdoc/>
    public virtual int[] SlotShape(Tensor parameter, string slot) => parameter.Shape;

    protected sealed override int[] StateSlotShape(Tensor parameter, string slot) => SlotShape(parameter, slot);

    protected sealed override void BeforeUpdates() => BeginStep(Groups, StateFor);

    protected sealed override void Update(ParamGroup group, Tensor p, Tensor grad, Dictionary<string, Tensor> state)
    {
        var u = Direction(group, p, grad, state, StepsOf(p));
        Apply(group, p, u, DecoupledDecay);
    }

    /// <summary><c>θ ← θ(1 − ηλ) − ηu</c> (decay only when <paramref name="decoupled"/>), PyTorch AdamW's arrangement.</summary>
    internal static void Apply(ParamGroup group, Tensor p, Tensor u, bool decoupled)
    {
        double decay = decoupled ? group.Lr * group.WeightDecay : 0;
        p.CopyFrom((decay != 0 ? p * (1 - decay) : p) - u * group.Lr);
    }
}
