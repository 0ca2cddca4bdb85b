namespace Engine.Nn;

/// <summary>
/// An optimiser's update direction, separated from how it is applied: the spec's common skeleton
/// (structure-and-optimizers.md §3.1, levanter <c>src/levanter/optim/config.py</c>) is
/// <c>u = direction(g) → u += λθ (decoupled, masked by group) → θ ← θ − η_t u</c>. Exposing <c>u</c> lets
/// <see cref="Cautious"/> mask the direction of any optimiser that has one, before the decay is added (levanter
/// <c>cautious.py</c> masks the Adam direction, then adds the decay).
/// </summary>
public interface IUpdateRule
{
    /// <summary>True when the group's weight decay is decoupled (<c>θ ← θ − η(u + λθ)</c>); false when the rule folds it into the gradient itself (Adam's L2 form).</summary>
    bool DecoupledDecay { get; }

    /// <summary>
    /// The direction <c>u</c> for one parameter; updates the persistent <paramref name="state"/> slots.
    /// <paramref name="step"/> is the parameter's update count, this one included (bias corrections).
    /// </summary>
    Tensor Direction(ParamGroup group, Tensor parameter, Tensor grad, Dictionary<string, Tensor> state, long step);

    /// <summary>Work over every parameter before the per-parameter directions of a step (MARS's global clip).</summary>
    void BeginStep(IReadOnlyList<ParamGroup> groups, Func<Tensor, Dictionary<string, Tensor>> stateOf) { }

    /// <summary>Shape of a state slot (the parameter's unless the rule keeps less, as Adam-mini does).</summary>
    int[] SlotShape(Tensor parameter, string slot) => parameter.Shape;
}
