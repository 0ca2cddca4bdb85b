using Engine.Peft.LowRank;

namespace Engine.Peft.Singular;

/// <summary>
/// SVFit (Sun et al. 2024, arXiv 2409.05926; paper only, spec adapters-lowrank.md section 5): train only the top-r
/// singular values of each targeted weight, W' = W_e + U_r diag(σ') V_rᵀ with W_e = W0 − U_r Σ_r V_rᵀ, U_r, V_r and W_e
/// frozen and σ' starting at Σ_r (<see cref="SingularValueLayer"/>, shared with CLIP-SVD). r is the smallest rank whose
/// top singular values hold <see cref="EnergyThreshold"/> of Σσ² (<see cref="WeightSvd.RankForEnergy"/>: the paper's
/// "over 99% of the matrix's information", read as spectral energy — the engine's reading), unless <see cref="R"/>
/// fixes it. The paper has no public code: the field names are the engine's.
/// <code>var peft = Peft.Apply(gpt, new SvfitConfig { TargetModules = ["qkv", "attn.proj"] }); // r by 99% energy</code>
/// </summary>
[PeftMethod("SVFIT", Layer = typeof(SingularValueLayer), Mergeable = true, StartsAtBase = true, InPeft = false, ZooLearningRate = 1e-1)]
public sealed record SvfitConfig : PeftConfig, ISingularValueConfig
{
    /// <summary>A fixed number of trained singular values per matrix; 0 (the default) chooses it by <see cref="EnergyThreshold"/>.</summary>
    public int R { get; init; }

    /// <summary>The share of the spectral energy Σσ² the trained top singular values hold when <see cref="R"/> is 0 (0.99).</summary>
    public double EnergyThreshold { get; init; } = 0.99;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 0) throw new ArgumentException($"SvfitConfig: r must be 0 (energy rule) or positive, got {R}");
        if (!(EnergyThreshold > 0 && EnergyThreshold <= 1)) throw new ArgumentException($"SvfitConfig: energy_threshold must be in (0, 1], got {EnergyThreshold}");
    }

    string ISingularValueConfig.TensorPrefix => "svfit";
    bool ISingularValueConfig.KeepsResidual => true;
    bool ISingularValueConfig.StoresRowVector => false;
    int ISingularValueConfig.RankFor(int k, Func<Tensor> singularValues) => R > 0 ? R : WeightSvd.RankForEnergy(singularValues(), EnergyThreshold);

    /// <summary>The zoo's SVFit: the paper's 99% energy rule on every block projection (the size knob does not apply).</summary>
    public static SvfitConfig Preset(AdapterPreset p) => new() { TargetModules = p.Linears, Seed = p.Seed };
}
