namespace Engine.Peft.Singular;

/// <summary>
/// CLIP-SVD (Koleilat et al. 2025, arXiv 2509.03740; HealthX-Lab/CLIP-SVD <c>svf_utils/svf_torch.py</c>, spec
/// adapters-lowrank.md section 7): each targeted Linear becomes SVD_Linear, y = U (s ⊙ (V x)) + b with U [out, k'] and
/// V [k', in] frozen and s = <c>vector_S</c> [1, k'] trained from S[:k'] (<see cref="SingularValueLayer"/>, shared with
/// SVFit). k' = clamp(⌊⌊k·global_rank_ratio⌋/4⌋·4, 1, k) (<c>round_to_nearest</c> with rank_base 4 and rank 1 allowed):
/// with the default ratio 1 every singular value trains and the start is exact when 4 divides k; otherwise, as in the
/// reference, the triplets past k' are dropped from the weight.
/// <code>var peft = Peft.Apply(gpt, new ClipSvdConfig { TargetModules = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"] });</code>
/// </summary>
[PeftMethod("CLIP_SVD", Layer = typeof(SingularValueLayer), Mergeable = true, StartsAtBase = true, InPeft = false, ZooLearningRate = 1e-1)]
public sealed record ClipSvdConfig : PeftConfig, ISingularValueConfig
{
    /// <summary>The share of the k = min(out, in) singular values that train before rounding down to a multiple of 4 (1.0).</summary>
    public double GlobalRankRatio { get; init; } = 1.0;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (!(GlobalRankRatio > 0 && GlobalRankRatio <= 1)) throw new ArgumentException($"ClipSvdConfig: global_rank_ratio must be in (0, 1], got {GlobalRankRatio}");
    }

    /// <summary>k' for a weight with k singular values: the reference's round_to_nearest(k, ratio, 4, allow_rank_eq1=True).</summary>
    public static int RankFor(int k, double ratio) => Math.Clamp((int)Math.Floor(Math.Floor(k * ratio) / 4) * 4, 1, k);

    string ISingularValueConfig.TensorPrefix => "clipsvd";
    bool ISingularValueConfig.KeepsResidual => false;
    bool ISingularValueConfig.StoresRowVector => true;
    int ISingularValueConfig.RankFor(int k, Func<Tensor> singularValues) => RankFor(k, GlobalRankRatio);

    /// <summary>The zoo's CLIP-SVD: every singular value of every block projection (the paper's ratio 1; the size knob does not apply).</summary>
    public static ClipSvdConfig Preset(AdapterPreset p) => new() { TargetModules = p.Linears, Seed = p.Seed };
}
