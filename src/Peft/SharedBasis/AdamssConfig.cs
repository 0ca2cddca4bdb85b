namespace Engine.Peft.SharedBasis;

/// <summary>
/// AdaMSS (PEFT's <c>adamss</c>, Adaptive Multi-Subspaces): [W | b] ≈ U Vᵀ at rank r; the output rows are clustered
/// by their rows of U into num_subspaces groups, and group i learns a rank-r_i update B_i A_i Vᵀ of its rows only.
/// PEFT's field names and defaults. PEFT does not save the clustering; the engine's files hold it as
/// <c>adamss_assignment</c> (see docs/adapters.md), and PEFT's own files are refused for lacking it.
/// <code>var peft = Peft.Apply(gpt, new AdamssConfig { R = 16, NumSubspaces = 4, TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("ADAMSS", Layer = typeof(AdamssLayer), ModelPart = typeof(AdamssAllocation), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-2)]
public sealed record AdamssConfig : PeftConfig
{
    /// <summary>Rank R of the SVD of [W | b] (clamped to the matrix's smaller side).</summary>
    public int R { get; init; } = 100;

    /// <summary>Number K of clusters of output rows (clamped to the output width).</summary>
    public int NumSubspaces { get; init; } = 5;

    /// <summary>Rank r_i of each subspace's update (at most the cluster's size).</summary>
    public int SubspaceRank { get; init; } = 1;

    /// <summary>"orthogonal": B_i = 0 (the model starts at the base); null: B_i ~ N(0, 0.01²).</summary>
    public string? InitWeights { get; init; } = "orthogonal";

    /// <summary>Adaptive subspace allocation (ASA, <see cref="AdamssAllocation"/>): freeze the least important subspaces during training.</summary>
    public bool UseAsa { get; init; }

    /// <summary>ASA's final number of trainable subspaces (only with use_asa).</summary>
    public int AsaTargetSubspaces { get; init; } = 50;

    /// <summary>ASA's first step (only with use_asa).</summary>
    public int InitWarmup { get; init; } = 50;

    /// <summary>ASA's last step (only with use_asa).</summary>
    public int FinalWarmup { get; init; } = 1000;

    /// <summary>ASA's masking interval in steps (only with use_asa).</summary>
    public int MaskInterval { get; init; } = 100;

    /// <summary>ASA's importance EMA coefficient (only with use_asa).</summary>
    public double AsaImportanceBeta { get; init; } = 0.85;

    /// <summary>ASA's uncertainty EMA coefficient (only with use_asa).</summary>
    public double AsaUncertaintyBeta { get; init; } = 0.85;

    /// <summary>ASA's schedule exponent (only with use_asa).</summary>
    public double AsaScheduleExponent { get; init; } = 3.0;

    /// <summary>True: r_i = the number of the cluster's singular values σ with σ² &gt; svd_threshold·σ₀², at most subspace_rank.</summary>
    public bool UseDynamicRank { get; init; }

    /// <summary>The ratio of dynamic rank selection (only with use_dynamic_rank).</summary>
    public double SvdThreshold { get; init; } = 0.1;

    /// <summary>Seed of the clustering (PEFT seeds torch's svd_lowrank with it; the engine seeds its k-means).</summary>
    public ulong RandomSeed { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"AdamssConfig: r must be at least 1, got {R}");
        if (NumSubspaces < 1) throw new ArgumentException($"AdamssConfig: num_subspaces must be at least 1, got {NumSubspaces}");
        if (SubspaceRank < 1) throw new ArgumentException($"AdamssConfig: subspace_rank must be at least 1, got {SubspaceRank}");
        if (InitWeights is not (null or "orthogonal")) throw new ArgumentException($"AdamssConfig: init_weights must be 'orthogonal' or null, got '{InitWeights}'");
        RequireFiniteInFloat32("svd_threshold", SvdThreshold);
        if (MaskInterval < 1) throw new ArgumentException($"AdamssConfig: mask_interval must be at least 1, got {MaskInterval}");
        if (AsaTargetSubspaces < 0) throw new ArgumentException($"AdamssConfig: asa_target_subspaces must be at least 0, got {AsaTargetSubspaces}");
        if (FinalWarmup < InitWarmup) throw new ArgumentException($"AdamssConfig: final_warmup ({FinalWarmup}) must not be below init_warmup ({InitWarmup})");
        if (!(AsaImportanceBeta >= 0 && AsaImportanceBeta < 1)) throw new ArgumentException($"AdamssConfig: asa_importance_beta must be in [0, 1), got {AsaImportanceBeta}");
        if (!(AsaUncertaintyBeta >= 0 && AsaUncertaintyBeta < 1)) throw new ArgumentException($"AdamssConfig: asa_uncertainty_beta must be in [0, 1), got {AsaUncertaintyBeta}");
        RequireFiniteInFloat32("asa_schedule_exponent", AsaScheduleExponent);
    }

    /// <summary>The zoo's AdaMSS: SVD rank 4·size, 4 subspaces of rank size / 4 (rank 8: R = 32, r_i = 2).</summary>
    public static AdamssConfig Preset(AdapterPreset p) =>
        new() { R = 4 * p.Size, NumSubspaces = 4, SubspaceRank = Math.Max(1, p.Size / 4), TargetModules = p.Linears, RandomSeed = p.Seed, Seed = p.Seed };
}
