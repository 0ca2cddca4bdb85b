namespace Engine.Nn;

/// <summary>
/// Adam (Kingma and Ba 2015, algorithm 1) with bias correction. <see cref="Decoupled"/> turns it into AdamW
/// (Loshchilov and Hutter 2019): weight decay shrinks the parameter directly instead of being added to the gradient.
/// </summary>
public class Adam : Optimizer, IUpdateRule
{
    public Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : this([new ParamGroup(parameters, lr, weightDecay)], beta1, beta2, eps) { }

    public Adam(IEnumerable<ParamGroup> groups, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8) : base(groups)
    {
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }

    /// <summary>True for AdamW's decoupled weight decay.</summary>
    protected virtual bool Decoupled => false;

    bool IUpdateRule.DecoupledDecay => Decoupled;

    /// <summary>
    /// Adam's direction <c>m̂/(√v̂+ε)</c> (with the L2 term folded into the gradient when not decoupled), for
    /// <see cref="Cautious"/>; <see cref="Optimizer.Step"/> itself uses the fused kernel below.
    /// </summary>
    Tensor IUpdateRule.Direction(ParamGroup group, Tensor p, Tensor grad, Dictionary<string, Tensor> state, long step)
    {
        var g = !Decoupled && group.WeightDecay != 0 ? grad + p * group.WeightDecay : grad;
        return AdamMoments.Direction(state, g, Beta1, Beta2, Eps, step);
    }

    protected override void Update(ParamGroup group, Tensor p, Tensor grad, Dictionary<string, Tensor> state)
    {
        var g = !Decoupled && group.WeightDecay != 0 ? grad + p * group.WeightDecay : grad;
        double t = StepsOf(p);
        double c1 = 1 - Math.Pow(Beta1, t), c2 = 1 - Math.Pow(Beta2, t);
        double decay = Decoupled ? group.Lr * group.WeightDecay : 0;
        if (p.IsContiguous)
        {
            // One fused pass over p, m and v (the same arithmetic as below, without the temporaries).
            if (!state.TryGetValue("exp_avg", out var m0)) state["exp_avg"] = m0 = p.ZerosLike();
            if (!state.TryGetValue("exp_avg_sq", out var v0)) state["exp_avg_sq"] = v0 = p.ZerosLike();
            p.AdamStepInPlace(g, m0, v0, Beta1, Beta2, Eps, group.Lr / c1, c2, decay);
            return;
        }
        var m = state.TryGetValue("exp_avg", out var m1) ? m1 * Beta1 + g * (1 - Beta1) : g * (1 - Beta1);
        var v = state.TryGetValue("exp_avg_sq", out var v1) ? v1 * Beta2 + g.Square() * (1 - Beta2) : g.Square() * (1 - Beta2);
        state["exp_avg"] = m;
        state["exp_avg_sq"] = v;
        // p -= lr * m_hat / (sqrt(v_hat) + eps), with m_hat = m / c1 and v_hat = v / c2 (PyTorch's arrangement).
        var update = m / ((v / c2).Sqrt() + Eps) * (group.Lr / c1);
        p.CopyFrom(p * (1 - decay) - update);
    }
}

/// <summary>Adam with decoupled weight decay (torch.optim.AdamW; default weight decay 0.01).</summary>
public sealed class AdamW : Adam
{
    public AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01)
        : base([new ParamGroup(parameters, lr, weightDecay)], beta1, beta2, eps) { }

    public AdamW(IEnumerable<ParamGroup> groups, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8) : base(groups, beta1, beta2, eps) { }

    protected override bool Decoupled => true;
}
