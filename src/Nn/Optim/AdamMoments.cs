namespace Engine.Nn;

/// <summary>
/// Adam's moments and bias-corrected direction, written once for the optimisers that run Adam on something (AdamW's
/// rule for <see cref="Cautious"/>, NAdamW, MARS on its corrected gradient, Muon's non-matrix groups). Slots
/// <c>exp_avg</c> and <c>exp_avg_sq</c>, PyTorch's names, so Adam's checkpoints and these read alike.
/// </summary>
static class AdamMoments
{
    /// <summary>
    /// <c>m ← β1 m + (1−β1) g</c>, <c>v ← β2 v + (1−β2) g²</c>, then <c>m̂/(√v̂+ε)</c> with <c>m̂ = m/(1−β1^t)</c>,
    /// <c>v̂ = v/(1−β2^t)</c>. With <paramref name="nesterov"/> (NAdamW), <c>m̂ = β1 m/(1−β1^{t+1}) + (1−β1) g/(1−β1^t)</c>:
    /// optax <c>scale_by_adam(nesterov=True)</c> (which levanter's AdamConfig uses) corrects the momentum term with
    /// t+1; the spec's table writes <c>β1 m̂</c> with t. We follow the code.
    /// </summary>
    public static Tensor Direction(Dictionary<string, Tensor> state, Tensor g, double beta1, double beta2, double eps, long t, bool nesterov = false)
    {
        var m = state.TryGetValue("exp_avg", out var m1) ? m1 * beta1 + g * (1 - beta1) : g * (1 - beta1);
        var v = state.TryGetValue("exp_avg_sq", out var v1) ? v1 * beta2 + g.Square() * (1 - beta2) : g.Square() * (1 - beta2);
        state["exp_avg"] = m;
        state["exp_avg_sq"] = v;
        double c1 = 1 - Math.Pow(beta1, t), c2 = 1 - Math.Pow(beta2, t);
        var mHat = nesterov ? m * (beta1 / (1 - Math.Pow(beta1, t + 1))) + g * ((1 - beta1) / c1) : m / c1;
        return mHat / ((v / c2).Sqrt() + eps);
    }
}
