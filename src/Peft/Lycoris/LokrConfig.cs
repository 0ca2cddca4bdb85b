namespace Engine.Peft.Lycoris;

/// <summary>
/// LoKr (Yeh et al. 2024, LyCORIS; PEFT's <c>LoKrConfig</c>): ΔW = (alpha / r) kron(W1, W2) with W1 [a, c] and W2
/// [b, d] from the factorisations of out = a b and in = c d (<see cref="LokrFactorization"/>); W2, and with
/// decompose_both W1, become rank-r products when r is small against them. PEFT's field names and defaults.
/// <code>var peft = Peft.Apply(gpt, new LokrConfig { R = 4, TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("LOKR", Layer = typeof(LokrLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-2)]
public sealed record LokrConfig : LycorisConfig
{
    /// <summary>Also write W1 as W1a W1b when r &lt; max(a, c) / 2.</summary>
    public bool DecomposeBoth { get; init; }

    /// <summary>The factorisation's preferred factor (−1: near the square root).</summary>
    public int DecomposeFactor { get; init; } = -1;

    /// <summary>Divide the rank-dropout mask by its mean (LoHa always does).</summary>
    public bool RankDropoutScale { get; init; }

    /// <summary>Which factor starts at zero (or none).</summary>
    public LokrInit InitWeights { get; init; } = LokrInit.Default;

    /// <summary>The zoo's LoKr: rank = size, alpha = 2 rank, every block projection.</summary>
    public static LokrConfig Preset(AdapterPreset p) => new() { R = p.Size, Alpha = 2 * p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
