namespace Engine.Nn;

/// <summary>
/// Settings of a token-choice mixture-of-experts feed-forward layer (<see cref="MoeFeedForward"/>), spec
/// structure-and-optimizers.md 2.1; the defaults are Mixtral's (top-2, renormalised, no capacity) with Switch's
/// coefficients. Switch Transformers is <c>new MoeOptions(E, TopK: 1, Renormalize: false, CapacityFactor: 1.25, EvalCapacityFactor: 2.0)</c>.
/// </summary>
/// <param name="Experts">Number of routed experts E (at least 1).</param>
/// <param name="TopK">Experts per token k (1 ≤ k ≤ E).</param>
/// <param name="Renormalize">Combine weights p_topk / Σ p_topk (Mixtral, CLIP-MoE) instead of the raw probabilities (Switch).</param>
/// <param name="CapacityFactor">
/// Training capacity factor cf: each expert takes at most C = ⌈cf·N·k/E⌉ of the N tokens of a forward pass; null (the
/// default) means no capacity, nothing dropped. C depends on the tokens of each pass, so with a capacity, decoding
/// token by token (N = 1 per pass, nothing dropped) can differ from one forward over the whole sequence.
/// </param>
/// <param name="EvalCapacityFactor">Capacity factor in evaluation mode; null means <paramref name="CapacityFactor"/>.</param>
/// <param name="SharedExpert">One more dense expert that every token goes through, its output added unweighted (DeepSeekMoE's shared expert).</param>
/// <param name="BalanceCoefficient">Weight of the load-balancing loss E·Σ_{j,e} f_{j,e} P_e (Switch 0.01).</param>
/// <param name="ZLossCoefficient">Weight of the router z-loss mean (logsumexp z)² (ST-MoE 1e-3).</param>
/// <param name="RouterNoise">Standard deviation of Gaussian noise added to the router logits in training only (0: none; WideNet uses 1/E²).</param>
public sealed record MoeOptions(
    int Experts,
    int TopK = 2,
    bool Renormalize = true,
    double? CapacityFactor = null,
    double? EvalCapacityFactor = null,
    bool SharedExpert = false,
    double BalanceCoefficient = 0.01,
    double ZLossCoefficient = 1e-3,
    double RouterNoise = 0)
{
    /// <summary>What is wrong with these settings, or null: the one check used by the layer and by checkpoint loaders.</summary>
    public string? Problem()
    {
        if (Experts < 1) return $"Experts {Experts} must be at least 1";
        if (TopK < 1 || TopK > Experts) return $"TopK {TopK} must be in [1, Experts = {Experts}]";
        if (CapacityFactor is { } cf && !(cf > 0 && double.IsFinite(cf))) return $"CapacityFactor {cf} must be a positive finite number or null";
        if (EvalCapacityFactor is { } ef && !(ef > 0 && double.IsFinite(ef))) return $"EvalCapacityFactor {ef} must be a positive finite number or null";
        if (!(BalanceCoefficient >= 0) || !double.IsFinite(BalanceCoefficient)) return $"BalanceCoefficient {BalanceCoefficient} must be a finite number at least 0";
        if (!(ZLossCoefficient >= 0) || !double.IsFinite(ZLossCoefficient)) return $"ZLossCoefficient {ZLossCoefficient} must be a finite number at least 0";
        if (!(RouterNoise >= 0) || !double.IsFinite(RouterNoise)) return $"RouterNoise {RouterNoise} must be a finite number at least 0";
        return null;
    }

    /// <summary>The capacity C = ⌈cf·N·k/E⌉ for <paramref name="tokens"/> tokens in training or evaluation, or null without capacity.</summary>
    public int? Capacity(int tokens, bool training)
    {
        var cf = training ? CapacityFactor : EvalCapacityFactor ?? CapacityFactor;
        return cf is { } f ? (int)Math.Ceiling(f * tokens * TopK / Experts) : null;
    }
}
