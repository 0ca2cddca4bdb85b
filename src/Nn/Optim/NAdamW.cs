namespace Engine.Nn;

/// <summary>
/// NAdamW: AdamW with Nesterov momentum (Dozat 2016), one of the optimisers of "Fantastic Pretraining Optimizers"
/// (structure-and-optimizers.md §3.1; levanter <c>AdamConfig(nesterov=true)</c>, i.e. optax <c>scale_by_adam</c>):
/// <c>u = (β1 m/(1−β1^{t+1}) + (1−β1) g/(1−β1^t)) / (√v̂+ε)</c>, then decoupled decay. Defaults: the sweep centre
/// at 130M (β = (0.95, 0.95), ε 1e-8); with β1 = 0 it is AdamW.
/// </summary>
public sealed class NAdamW : DecoupledOptimizer
{
    public NAdamW(IEnumerable<ParamGroup> groups, double beta1 = 0.95, double beta2 = 0.95, double eps = 1e-8) : base(groups)
    {
        OptimizerArguments.Beta("NAdamW", "beta1", beta1);
        OptimizerArguments.Beta("NAdamW", "beta2", beta2);
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }

    public override Tensor Direction(ParamGroup group, Tensor parameter, Tensor grad, Dictionary<string, Tensor> state, long step) =>
        AdamMoments.Direction(state, grad, Beta1, Beta2, Eps, step, nesterov: true);
}
