namespace Engine.Nn;

/// <summary>
/// Shape of a Mixture-of-Recursions decoder (<see cref="MorGpt"/>; Bae et al. 2025; spec structure-and-optimizers.md 1.1
/// and 1.2). <see cref="GptConfig.Layers"/> is the effective depth L: the first and last layers are unique, the middle
/// L − 2 are a shared stack of B = (L − 2) / N_r blocks applied up to N_r times (MIDDLE-CYCLE sharing, MoR's best).
/// Defaults follow the reference configs (<c>conf/pretrain/*.yaml</c>) and the paper.
/// <code>new MorConfig(new GptConfig(VocabSize: 27, ContextLength: 16, DModel: 32, Layers: 5, Heads: 2), Recursions: 3)</code>
/// </summary>
/// <param name="Base">Vocabulary, context, width, heads, MLP ratio, dropout, epsilon, GELU of the blocks. Must use learned positions
/// (routed rows are gathered, so rotary angles by slot would be wrong), attention mixers only and a tied head.</param>
/// <param name="Recursions">N_r, the most times the shared stack runs.</param>
/// <param name="Routing">Expert choice (the paper's recommended variant) or token choice.</param>
/// <param name="Capacities">β_r per step (expert choice); null means (N_r − r + 1) / N_r for r = 1..N_r (the paper's 9→6→3 of 9 figure).</param>
/// <param name="Alpha">Router output scale α; null means 0.1 for expert choice (sigmoid) and 1 for token choice (softmax).</param>
/// <param name="WeightedGating">Kept rows are updated by w·Bk(h) (the reference's default <c>gating: weighted</c>); false adds Bk(h) unweighted.</param>
/// <param name="AuxLossCoefficient">Expert choice: coefficient of the BCE "was selected" router loss (reference <c>sampling: aux_loss</c>, 0.001).</param>
/// <param name="BalanceCoefficient">Token choice: coefficient of the balancing loss Σ_i P_i f_i (0.1).</param>
/// <param name="ZLossCoefficient">Router z-loss mean(logsumexp(z)²); null means 1e-5 for token choice and 0 (off, the reference default) for expert choice.</param>
/// <param name="KvMode">Recursion-wise caching or recursive KV sharing.</param>
/// <param name="ThresholdInEval">Expert choice in evaluation mode keeps a surviving token iff σ(router logit) ≥ 0.5 (the BCE-trained
/// decision), which is causal and lets decoding run token by token; false keeps the reference's top-k in evaluation too
/// (then a cache is refused). Steps with β_r ≥ 1 keep every survivor in either case, as top-k does.</param>
public sealed record MorConfig(
    GptConfig Base,
    int Recursions,
    MorRouting Routing = MorRouting.ExpertChoice,
    double[]? Capacities = null,
    double? Alpha = null,
    bool WeightedGating = true,
    double AuxLossCoefficient = 1e-3,
    double BalanceCoefficient = 0.1,
    double? ZLossCoefficient = null,
    MorKvMode KvMode = MorKvMode.RecursionWise,
    bool ThresholdInEval = true)
{
    /// <summary>B, the number of blocks in the shared stack: (L − 2) / N_r.</summary>
    public int SharedLayers => (Base.Layers - 2) / Recursions;

    /// <summary>β_r of step <paramref name="step"/> (0-based): the given capacity or (N_r − step) / N_r.</summary>
    public double Capacity(int step) => Capacities?[step] ?? (double)(Recursions - step) / Recursions;

    /// <summary>α after defaults.</summary>
    public double ResolvedAlpha => Alpha ?? (Routing == MorRouting.ExpertChoice ? 0.1 : 1.0);

    /// <summary>The z-loss coefficient after defaults.</summary>
    public double ResolvedZLoss => ZLossCoefficient ?? (Routing == MorRouting.TokenChoice ? 1e-5 : 0.0);

    /// <summary>Throws a named exception for a shape MorGpt cannot build.</summary>
    public void Validate()
    {
        if (Recursions < 1) throw new ArgumentException($"MorConfig: Recursions must be at least 1, got {Recursions}");
        if (Base.Layers < 2 + Recursions || (Base.Layers - 2) % Recursions != 0)
            throw new ArgumentException($"MorConfig: Layers − 2 = {Base.Layers - 2} must be a positive multiple of Recursions = {Recursions} (MIDDLE-CYCLE: first and last layers unique)");
        if (Base.Rotary) throw new ArgumentException("MorConfig: rotary embeddings are not supported (routed rows are gathered); use learned positions");
        if (!Base.TiedHead) throw new ArgumentException("MorConfig: only the tied head is supported");
        if (Base.Mixers is not null && Base.Mixers.Any(m => m != TokenMixers.Attention))
            throw new ArgumentException("MorConfig: only attention mixers are supported");
        if (Capacities is not null && (Capacities.Length != Recursions || Capacities.Any(c => !(c > 0 && c <= 1))))
            throw new ArgumentException($"MorConfig: Capacities must hold {Recursions} values in (0, 1], got [{string.Join(", ", Capacities)}]");
    }
}
