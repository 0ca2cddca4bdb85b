namespace Engine.Peft.Growth;

/// <summary>
/// IncreLoRA (Zhang et al. 2023, arXiv 2308.12043; FeiyuZhang98/IncreLoRA <c>loralib/loralib/increlora.py</c>; spec
/// adapters-lowrank.md section 1): AdaLoRA's SVD-like form P (Q * lambda) grown one block at a time. Every module
/// starts at rank <see cref="R"/>; during training the modules with the highest smoothed importance gain
/// <see cref="IncreRankNum"/> ranks every <see cref="IncreInterval"/> steps until the total rank reaches
/// <see cref="TargetRank"/> times the number of modules. The update is divided by the CURRENT rank, so it rescales when
/// a module grows. Not in Hugging Face PEFT: saved in its layout with the engine's <c>peft_type</c> "INCRELORA"; the
/// grown ranks and reserve blocks are in <see cref="RankPattern"/> and <see cref="ReservePattern"/>.
/// <code>var peft = Peft.Apply(gpt, new IncreLoraConfig { R = 1, TargetRank = 4, InitWarmup = 20, IncreInterval = 10, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("INCRELORA", Layer = typeof(IncreLoraLayer), ModelPart = typeof(IncreLoraModelPart), Mergeable = true, StartsAtBase = true, InPeft = false, ZooLearningRate = 1e-2)]
public sealed record IncreLoraConfig : PeftConfig, IAdaptiveRankConfig
{
    /// <summary>Initial rank r0 of every module (the reference's <c>lora_r</c>; its scripts use 1).</summary>
    public int R { get; init; } = 1;

    /// <summary>Average rank per module at the end (the reference's <c>target_rank</c>).</summary>
    public int TargetRank { get; init; } = 8;

    /// <summary>Total rank budget; null means <see cref="TargetRank"/> times the number of modules.</summary>
    public int? TargetTotalRank { get; init; }

    /// <summary>Steps before the first growth (growth happens at steps t &gt; init_warmup).</summary>
    public int InitWarmup { get; init; } = 1000;

    /// <summary>Steps between two growths.</summary>
    public int IncreInterval { get; init; } = 1000;

    /// <summary>How many modules may grow at one growth step (top_h; the reference's scripts use 2).</summary>
    public int TopH { get; init; } = 2;

    /// <summary>Ranks added to a selected module; null means the reference's table {2:1, 4:2, 6:3, 8:4}[target_rank].</summary>
    public int? IncreRankNum { get; init; }

    /// <summary>When true (the reference's default), reserve blocks' a and b train before they are activated; their lambda stays 1e-5 and frozen.</summary>
    public bool AdvanceLearn { get; init; } = true;

    /// <summary>EMA coefficient of the module sensitivity.</summary>
    public double Beta1 { get; init; } = 0.85;

    /// <summary>EMA coefficient of the module uncertainty.</summary>
    public double Beta2 { get; init; } = 0.85;

    /// <summary>Weight of the orthogonality regulariser (the reference's <c>compute_orth_regu</c> default 0.1).</summary>
    public double OrthRegWeight { get; init; } = 0.1;

    /// <summary>Weight decay of the parameter groups that growth adds to the optimiser (the reference passes its own).</summary>
    public double WeightDecay { get; init; }

    /// <summary>Total training steps (informational, as in the reference; growth does not need it).</summary>
    public int? TotalStep { get; init; }

    /// <summary>c: the update is scaled by c / (ranknum + 1e-5); c &lt;= 0 means <see cref="R"/>.</summary>
    public double LoraAlpha { get; init; } = 16;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double LoraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Current rank (ranknum) per module path, once the module has grown; absent: <see cref="R"/>.</summary>
    public IReadOnlyDictionary<string, int>? RankPattern { get; init; }

    /// <summary>Reserve blocks (not yet active, lambda frozen) per module path; absent: none (before the first step).</summary>
    public IReadOnlyDictionary<string, int>? ReservePattern { get; init; }

    /// <summary>Ranks a selected module gains.</summary>
    public int AddR => IncreRankNum ?? TargetRank switch
    {
        2 => 1, 4 => 2, 6 => 3, 8 => 4,
        _ => throw new ArgumentException($"IncreLoraConfig: incre_rank_num is needed for target_rank {TargetRank} (the reference's table covers 2, 4, 6, 8)"),
    };

    /// <summary>c of the update's scale c / (ranknum + 1e-5).</summary>
    public double Scaling => LoraAlpha > 0 ? LoraAlpha : R;

    /// <summary>The total rank budget for <paramref name="modules"/> adapted modules.</summary>
    public int Budget(int modules) => TargetTotalRank ?? TargetRank * modules;

    string IAdaptiveRankConfig.MethodName => "IncreLoRA";
    int IAdaptiveRankConfig.InitialRank => R;
    int IAdaptiveRankConfig.TargetRank => TargetRank;

    /// <summary>The current rank of the module at <paramref name="path"/>.</summary>
    public int RankOf(ModulePath path) => RankPattern is { } p && p.TryGetValue(path.External, out int r) ? r : R;

    /// <summary>Reserve blocks of the module at <paramref name="path"/>.</summary>
    public int ReservesOf(ModulePath path) => ReservePattern is { } p && p.TryGetValue(path.External, out int n) ? n : 0;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"IncreLoraConfig: r must be at least 1, got {R}");
        if (TargetRank < R) throw new ArgumentException($"IncreLoraConfig: target_rank {TargetRank} must be at least r {R}");
        if (TargetTotalRank is < 1) throw new ArgumentException($"IncreLoraConfig: target_total_rank must be positive, got {TargetTotalRank}");
        if (IncreRankNum is < 1) throw new ArgumentException($"IncreLoraConfig: incre_rank_num must be positive, got {IncreRankNum}");
        _ = AddR;
        if (InitWarmup < 0) throw new ArgumentException($"IncreLoraConfig: init_warmup must be non-negative, got {InitWarmup}");
        if (IncreInterval < 1) throw new ArgumentException($"IncreLoraConfig: incre_interval must be at least 1, got {IncreInterval}");
        if (TopH < 1) throw new ArgumentException($"IncreLoraConfig: top_h must be at least 1, got {TopH}");
        if (!(Beta1 > 0 && Beta1 < 1) || !(Beta2 > 0 && Beta2 < 1)) throw new ArgumentException($"IncreLoraConfig: beta1 and beta2 must be in (0, 1), got {Beta1}, {Beta2}");
        if (!(OrthRegWeight >= 0) || !double.IsFinite(OrthRegWeight)) throw new ArgumentException($"IncreLoraConfig: orth_reg_weight must be finite and non-negative, got {OrthRegWeight}");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"IncreLoraConfig: weight_decay must be non-negative, got {WeightDecay}");
        RequireFiniteInFloat32("lora_alpha", LoraAlpha);
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw new ArgumentException($"IncreLoraConfig: lora_dropout must be in [0, 1), got {LoraDropout}");
        if (RankPattern is { } ranks)
            foreach (var (key, r) in ranks)
                if (r < R) throw new ArgumentException($"IncreLoraConfig: rank_pattern['{key}'] is {r}, below r {R}");
        if (ReservePattern is { } reserves)
            foreach (var (key, n) in reserves)
                if (n < 0 || n > AddR) throw new ArgumentException($"IncreLoraConfig: reserve_pattern['{key}'] is {n}, outside [0, incre_rank_num {AddR}]");
    }

    /// <summary>
    /// The zoo's IncreLoRA: rank 1 growing to an average of size (LoRA's rank at the same size), two modules per growth,
    /// the growth steps spread over the first 60% of the run (init_warmup and incre_interval scaled to the steps).
    /// </summary>
    public static IncreLoraConfig Preset(AdapterPreset p) => new()
    {
        R = 1, TargetRank = Math.Max(1, p.Size), IncreRankNum = Math.Max(1, p.Size / 2), LoraAlpha = 2 * p.Size, TopH = 4,
        InitWarmup = p.Steps / 10, IncreInterval = Math.Max(1, p.Steps / 30), TotalStep = p.Steps, TargetModules = p.Linears, Seed = p.Seed,
    };
}
