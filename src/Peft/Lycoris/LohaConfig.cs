namespace Engine.Peft.Lycoris;

/// <summary>
/// LoHa (Hyeon-Woo et al. 2022, FedPara; PEFT's <c>LoHaConfig</c>): ΔW = (alpha / r) (W1a W1b) ⊙ (W2a W2b), a Hadamard
/// product of two rank-r products, whose rank can reach r². PEFT's field names and defaults (r 8, alpha 8).
/// <code>var peft = Peft.Apply(gpt, new LohaConfig { R = 4, Alpha = 8, TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("LOHA", Layer = typeof(LohaLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-2)]
public sealed record LohaConfig : LycorisConfig
{
    /// <summary>True: W2b = 0, so the model starts at the base; false: every factor random (tests).</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>The zoo's LoHa: rank = size, alpha = 2 rank, every block projection.</summary>
    public static LohaConfig Preset(AdapterPreset p) => new() { R = p.Size, Alpha = 2 * p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
