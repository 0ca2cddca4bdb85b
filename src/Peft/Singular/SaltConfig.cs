namespace Engine.Peft.Singular;

/// <summary>
/// SALT (Elsayed et al. 2025, arXiv 2503.16055; BioMedIA-MBZUAI/SALT <c>prompt_adapted_SAM2/modeling/Adapters/SALT.py</c>,
/// spec adapters-lowrank.md section 6): with W0 = U diag(S) Vᵀ, the top ρ singular values are scaled and shifted
/// (α ⊙ S_top + β) and the rest get a dense low-rank update diag(S_rest) + X Y; W' = U ReLU(Σ') Vᵀ
/// (<see cref="SaltLayer"/>). The reference's field names: ρ = max(1, ⌊k·ratio_salt⌋) unless <see cref="Rank"/> fixes it
/// (the SAM-v1 file passes the rank directly), r_lora the rank of X Y; reg_multiplier weighs the regulariser
/// ‖diag(α⊙S_top+β) − diag(S_top)‖_F + ‖X Y‖_F (<see cref="SaltModelPart"/>).
/// <code>var peft = Peft.Apply(gpt, new SaltConfig { RatioSalt = 0.5, RLora = 4, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("SALT", Layer = typeof(SaltLayer), ModelPart = typeof(SaltModelPart), Mergeable = true, StartsAtBase = true, InPeft = false,
    ZooLearningRate = 1e-2)]
public sealed record SaltConfig : PeftConfig
{
    /// <summary>The share of the k = min(out, in) singular values that are scaled and shifted (SAM2's hieradet.py uses 0.1).</summary>
    public double RatioSalt { get; init; } = 0.1;

    /// <summary>A fixed ρ (clamped to k, as the SAM-v1 file does); 0 (the default) takes ρ from <see cref="RatioSalt"/>.</summary>
    public int Rank { get; init; }

    /// <summary>The rank of X Y on the remaining k − ρ singular values (SALTLinear's default 8); 0: no X Y.</summary>
    public int RLora { get; init; } = 8;

    /// <summary>
    /// The weight of the regulariser in the loss. 0, as the reference runs it: main.py passes SALT_config.yml's
    /// training.reg_multiplier (0) to train_dl, whose own default (0.01) is never used.
    /// </summary>
    public double RegMultiplier { get; init; }

    /// <inheritdoc/>
    public override void Validate()
    {
        if (!(RatioSalt > 0 && RatioSalt <= 1)) throw new ArgumentException($"SaltConfig: ratio_salt must be in (0, 1], got {RatioSalt}");
        if (Rank < 0) throw new ArgumentException($"SaltConfig: rank must be 0 (use ratio_salt) or positive, got {Rank}");
        if (RLora < 0) throw new ArgumentException($"SaltConfig: r_lora must be 0 or positive, got {RLora}");
        if (!(RegMultiplier >= 0 && double.IsFinite(RegMultiplier))) throw new ArgumentException($"SaltConfig: reg_multiplier must be finite and at least 0, got {RegMultiplier}");
    }

    /// <summary>ρ for a weight with k singular values.</summary>
    public int TopRank(int k) => Rank > 0 ? Math.Min(Rank, k) : Math.Max(1, (int)Math.Floor(k * RatioSalt));

    /// <summary>The zoo's SALT: ρ = r_lora = size on every block projection.</summary>
    public static SaltConfig Preset(AdapterPreset p) => new() { Rank = p.Size, RLora = p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
