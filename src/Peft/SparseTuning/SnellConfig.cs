namespace Engine.Peft.SparseTuning;

/// <summary>
/// SNELL (Shen et al. 2024, "Expanding Sparse Tuning for Low Memory Usage", NeurIPS 2024, arXiv:2411.01800;
/// ssfgunner/SNELL <c>model/vision_transformer_timm.py</c> classes KLoRA and SNELL; spec adapters-other.md §7): the
/// update of a weight is a kernel of two small learnable factor sets, ΔW[o, i] = Σ_h c_h ‖U^h_i − V^h_o‖₂ with
/// U^h [in, q/H], V^h [out, q/H] and frozen c_h = scale_factor_fc · (−1)^h, sparsified in every forward by competition
/// among its own entries: with τ = init_thres > 0, t = torch.quantile(|ΔW|, τ) (detached), ΔW_s = ΔW ⊙ sg(|ΔW|) ⊙
/// 1[|ΔW| > t]. Only U and V are trained and saved (q (in + out) values); ΔW_s is recomputed (also at merge). The
/// kernel starts non-zero (Kaiming-uniform factors), so the model does not start at the base.
/// Field names are the reference code's (<c>low_rank_dim</c>, <c>init_thres</c>, <c>num_Hs</c>, <c>norm_p</c>,
/// <c>SCALE_FACTOR_fc</c>) in snake case; defaults those of its VTAB snell32 scripts.
/// <code>var peft = Peft.Apply(gpt, new SnellConfig { LowRankDim = 8, InitThres = 0.9, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("SNELL", Layer = typeof(SnellLayer), Mergeable = true, StartsAtBase = false, InPeft = false, ZooLearningRate = 1e-1)]
public sealed record SnellConfig : PeftConfig
{
    /// <summary>q: the total width of the factors, split evenly over the <see cref="NumHs"/> kernels (must divide).</summary>
    public int LowRankDim { get; init; } = 32;

    /// <summary>τ: the quantile of |ΔW| below which entries are dropped (0: the dense kernel, the reference's KLoRA).</summary>
    public double InitThres { get; init; } = 0.9;

    /// <summary>H: the number of distance kernels mixed with alternating signs.</summary>
    public int NumHs { get; init; } = 2;

    /// <summary>The norm of the distances; the reference's default 2 is the only one supported.</summary>
    public double NormP { get; init; } = 2;

    /// <summary>|c_h|: the frozen mixing coefficients are c_h = scale_factor_fc · (−1)^h.</summary>
    public double ScaleFactorFc { get; init; } = 0.1;

    /// <summary>Dropout on the adapter's input (the reference's <c>additional_drop</c>, 0.1 unless <c>--no_drop_out</c>).</summary>
    public double SnellDropout { get; init; } = 0.1;

    /// <summary>The frozen coefficient c_h of kernel <paramref name="h"/>.</summary>
    public double Coefficient(int h) => h % 2 == 0 ? ScaleFactorFc : -ScaleFactorFc;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (NumHs < 1) throw new ArgumentException($"SnellConfig: num_hs must be positive, got {NumHs}");
        if (LowRankDim < NumHs || LowRankDim % NumHs != 0) throw new ArgumentException($"SnellConfig: low_rank_dim {LowRankDim} must be a positive multiple of num_hs {NumHs}");
        if (!(InitThres >= 0 && InitThres < 1)) throw new ArgumentException($"SnellConfig: init_thres must be in [0, 1), got {InitThres}");
        if (NormP != 2) throw new ArgumentException($"SnellConfig: only norm_p = 2 is supported, got {NormP}");
        if (!double.IsFinite(ScaleFactorFc) || ScaleFactorFc == 0) throw new ArgumentException($"SnellConfig: scale_factor_fc must be finite and non-zero, got {ScaleFactorFc}");
        if (!(SnellDropout >= 0 && SnellDropout < 1)) throw new ArgumentException($"SnellConfig: snell_dropout must be in [0, 1), got {SnellDropout}");
    }

    /// <summary>
    /// The zoo's SNELL: q = size rounded up to even (q (in + out) trainable values, LoRA's count at r = q), τ = 0.9 as
    /// the reference's scripts, every block projection, no dropout (as the zoo's LoRA).
    /// </summary>
    public static SnellConfig Preset(AdapterPreset p) => new()
    {
        LowRankDim = p.Size + p.Size % 2, InitThres = 0.9, SnellDropout = 0, TargetModules = p.Linears, Seed = p.Seed,
    };
}
