namespace Engine.Nn;

/// <summary>
/// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), as structure-and-optimizers.md §3.1
/// writes it: <c>u = sign(β1 m + (1−β1) g)</c>, then <c>m ← β2 m + (1−β2) g</c> — every entry of the update is ±η
/// before the decoupled decay. Defaults: the paper's tuned 130M values β = (0.9, 0.95) (η 2e-3, λ 0.7 are the
/// group's). Slot <c>exp_avg</c> (m).
/// </summary>
public sealed class Lion : DecoupledOptimizer
{
    public Lion(IEnumerable<ParamGroup> groups, double beta1 = 0.9, double beta2 = 0.95) : base(groups)
    {
        OptimizerArguments.Beta("Lion", "beta1", beta1);
        OptimizerArguments.Beta("Lion", "beta2", beta2);
        Beta1 = beta1;
        Beta2 = beta2;
    }

    public double Beta1 { get; }
    public double Beta2 { get; }

    public override Tensor Direction(ParamGroup group, Tensor parameter, Tensor grad, Dictionary<string, Tensor> state, long step)
    {
        bool any = state.TryGetValue("exp_avg", out var m);
        var mixed = any ? m! * Beta1 + grad * (1 - Beta1) : grad * (1 - Beta1);
        state["exp_avg"] = any ? m! * Beta2 + grad * (1 - Beta2) : grad * (1 - Beta2);
        return mixed.Sign();
    }
}
