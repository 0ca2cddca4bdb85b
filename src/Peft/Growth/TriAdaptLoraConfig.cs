namespace Engine.Peft.Growth;

/// <summary>
/// TriAdaptLoRA (Liang et al. 2025, arXiv 2501.08008; YaoLiang2023/DiverValue-Bench
/// <c>peft/src/peft/tuners/triadaptlora.py</c>; spec adapters-lowrank.md section 2): ΔW = alpha B C A / (R + 1e-5) with
/// a core C [R, R] assembled from triangular growth blocks, R the module's current rank. Every module starts at
/// <see cref="InitRank"/>; at steps t &gt; init_warmup with t mod incre_interval = 0, while the total rank is below
/// <see cref="ReferenceRank"/> times the number of modules, the K modules with the largest change of the normalised
/// Frobenius norm ||C||_F / #blocks grow by <see cref="IncreRankNum"/> ranks, K following a linear or exponential
/// schedule in the training progress. Not in Hugging Face PEFT: saved in its layout with the engine's
/// <c>peft_type</c> "TRIADAPTLORA"; the block sizes, ranks and last norms are in the config's patterns.
/// <code>var peft = Peft.Apply(gpt, new TriAdaptLoraConfig { ReferenceRank = 4, TotalStep = 100, InitWarmup = 10, IncreInterval = 5, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("TRIADAPTLORA", Layer = typeof(TriAdaptLoraLayer), ModelPart = typeof(TriAdaptLoraModelPart), Mergeable = true, StartsAtBase = true, InPeft = false, ZooLearningRate = 1e-2)]
public sealed record TriAdaptLoraConfig : PeftConfig, IAdaptiveRankConfig
{
    /// <summary>Target average rank per module.</summary>
    public int ReferenceRank { get; init; } = 8;

    /// <summary>Rank of every module at the start (its first block).</summary>
    public int InitRank { get; init; } = 1;

    /// <summary>Steps before the first growth (growth at t &gt; init_warmup).</summary>
    public int InitWarmup { get; init; }

    /// <summary>Steps between two growth evaluations.</summary>
    public int IncreInterval { get; init; } = 1;

    /// <summary>The reference's "fixed rank growth threshold mode" field: kept for its files, unused by its code and by the engine.</summary>
    public int TopK { get; init; } = 1;

    /// <summary>Weight of the orthogonality regulariser.</summary>
    public double OrthRegWeight { get; init; } = 0.5;

    /// <summary>Weight decay of the parameter groups that growth adds.</summary>
    public double WeightDecay { get; init; }

    /// <summary>"linear": K = floor((R_target - R_cur) rho); "non-linear": K = floor(exp(rho ln(R_target - R_cur))).</summary>
    public string RankGrowthModel { get; init; } = "linear";

    /// <summary>Ranks a selected module gains; null: reference_rank / 2 (the reference's table).</summary>
    public int? IncreRankNum { get; init; }

    /// <summary>Total training steps T (required to train).</summary>
    public int? TotalStep { get; init; }

    /// <summary>Total rank budget; null: reference_rank times the number of modules.</summary>
    public int? TargetTotalRank { get; init; }

    /// <summary>alpha: the update is scaled by alpha / (R + 1e-5); alpha &lt;= 0 means init_rank.</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double LoraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>
    /// How blocks start. "eye" (the reference file's <c>add_parameters</c>): C_row and C_col are torch's eye_ of their
    /// shape, A ~ N(0, 0.02^2), B = 0. "zero" (the reference's backup <c>..._block_abc0.py</c>, the spec's reading):
    /// everything 0 except the first block's A ~ N(0, 0.02^2); nothing but that A then ever gets a gradient.
    /// </summary>
    public string InitWeights { get; init; } = "eye";

    /// <summary>Engine option (spec section 2): when positive, every new B ~ N(0, std^2) instead of 0 (the layer then does not start at W0).</summary>
    public double BInitStd { get; init; }

    /// <summary>Current rank R per module path (the reference's rank_pattern); absent: init_rank.</summary>
    public IReadOnlyDictionary<string, int>? RankPattern { get; init; }

    /// <summary>Cumulative block sizes S_1 &lt; S_2 &lt; ... = R per module path; absent: [init_rank].</summary>
    public IReadOnlyDictionary<string, int[]>? BlockPattern { get; init; }

    /// <summary>The last normalised norm n_t per module path (for the next score); absent: the norm at creation.</summary>
    public IReadOnlyDictionary<string, double>? NormPattern { get; init; }

    /// <summary>Ranks a selected module gains.</summary>
    public int AddR => IncreRankNum ?? (ReferenceRank >= 2 && ReferenceRank % 2 == 0 ? ReferenceRank / 2
        : throw new ArgumentException($"TriAdaptLoraConfig: incre_rank_num is needed for reference_rank {ReferenceRank} (the reference's table covers even ranks)"));

    /// <summary>alpha of the scale alpha / (R + 1e-5).</summary>
    public double Scaling => LoraAlpha > 0 ? LoraAlpha : InitRank;

    /// <summary>The total rank budget for <paramref name="modules"/> modules.</summary>
    public int Budget(int modules) => TargetTotalRank ?? ReferenceRank * modules;

    /// <summary>Cumulative block sizes of the module at <paramref name="path"/>.</summary>
    public int[] BlocksOf(ModulePath path) => BlockPattern is { } p && p.TryGetValue(path.External, out var s) ? s : [InitRank];

    string IAdaptiveRankConfig.MethodName => "TriAdaptLoRA";
    int IAdaptiveRankConfig.InitialRank => InitRank;
    int IAdaptiveRankConfig.TargetRank => ReferenceRank;

    /// <summary>The current rank of the module at <paramref name="path"/>.</summary>
    public int RankOf(ModulePath path) => BlocksOf(path)[^1];

    /// <summary>
    /// How many modules grow at step <paramref name="step"/> (<c>RankAllocator.compute_threshold</c>): with
    /// rho = (t - init_warmup) / (T - init_warmup), K = floor((budget - total) rho) (linear) or
    /// floor(exp(rho ln(budget - total))) (non-linear), at least 1 and at most <paramref name="modules"/>.
    /// </summary>
    public int ModulesToGrow(int step, int total, int budget, int modules)
    {
        double rho = (double)(step - InitWarmup) / (TotalStep!.Value - InitWarmup);
        double left = budget - total;
        int k = RankGrowthModel == "linear" ? (int)Math.Floor(left * rho) : (int)Math.Floor(Math.Exp(rho * Math.Log(left)));
        return Math.Clamp(k, 1, modules);
    }

    /// <inheritdoc/>
    public override void Validate()
    {
        if (InitRank < 1) throw new ArgumentException($"TriAdaptLoraConfig: init_rank must be at least 1, got {InitRank}");
        if (ReferenceRank < InitRank) throw new ArgumentException($"TriAdaptLoraConfig: reference_rank {ReferenceRank} must be at least init_rank {InitRank}");
        if (IncreRankNum is < 1) throw new ArgumentException($"TriAdaptLoraConfig: incre_rank_num must be positive, got {IncreRankNum}");
        if (TargetTotalRank is < 1) throw new ArgumentException($"TriAdaptLoraConfig: target_total_rank must be positive, got {TargetTotalRank}");
        _ = AddR;
        if (RankGrowthModel is not ("linear" or "non-linear")) throw new ArgumentException($"TriAdaptLoraConfig: rank_growth_model '{RankGrowthModel}' is not 'linear' or 'non-linear'");
        if (InitWeights is not ("eye" or "zero")) throw new ArgumentException($"TriAdaptLoraConfig: init_weights '{InitWeights}' is not 'eye' or 'zero'");
        if (!(BInitStd >= 0) || !double.IsFinite(BInitStd)) throw new ArgumentException($"TriAdaptLoraConfig: b_init_std must be finite and non-negative, got {BInitStd}");
        if (InitWarmup < 0) throw new ArgumentException($"TriAdaptLoraConfig: init_warmup must be non-negative, got {InitWarmup}");
        if (IncreInterval < 1) throw new ArgumentException($"TriAdaptLoraConfig: incre_interval must be at least 1, got {IncreInterval}");
        if (!(OrthRegWeight >= 0) || !double.IsFinite(OrthRegWeight)) throw new ArgumentException($"TriAdaptLoraConfig: orth_reg_weight must be finite and non-negative, got {OrthRegWeight}");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"TriAdaptLoraConfig: weight_decay must be non-negative, got {WeightDecay}");
        RequireFiniteInFloat32("lora_alpha", LoraAlpha);
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw new ArgumentException($"TriAdaptLoraConfig: lora_dropout must be in [0, 1), got {LoraDropout}");
        if (BlockPattern is { } blocks)
            foreach (var (key, sizes) in blocks)
            {
                if (sizes is null || sizes.Length == 0 || sizes[0] != InitRank) throw new ArgumentException($"TriAdaptLoraConfig: block_pattern['{key}'] must start with init_rank {InitRank}");
                for (int i = 1; i < sizes.Length; i++)
                    if (sizes[i] <= sizes[i - 1]) throw new ArgumentException($"TriAdaptLoraConfig: block_pattern['{key}'] must increase, got [{string.Join(", ", sizes)}]");
                if (RankPattern is { } ranks && ranks.TryGetValue(key, out int r) && r != sizes[^1])
                    throw new ArgumentException($"TriAdaptLoraConfig: rank_pattern['{key}'] is {r}, but its blocks end at {sizes[^1]}");
            }
        if (InferenceMode) return;
        if (TotalStep is not > 0) throw new ArgumentException($"TriAdaptLoraConfig: total_step must be positive to train, got {TotalStep?.ToString() ?? "null"}");
        if (InitWarmup >= TotalStep) throw new ArgumentException($"TriAdaptLoraConfig: init_warmup {InitWarmup} must be below total_step {TotalStep}");
    }

    /// <summary>
    /// The zoo's TriAdaptLoRA: rank 1 growing to an average of size (LoRA's rank at the same size) by size/2 per growth,
    /// growth evaluated every 1/60 of the run after the first tenth.
    /// </summary>
    public static TriAdaptLoraConfig Preset(AdapterPreset p) => new()
    {
        ReferenceRank = Math.Max(2, p.Size), IncreRankNum = Math.Max(1, p.Size / 2), LoraAlpha = 2 * p.Size, TotalStep = p.Steps,
        InitWarmup = p.Steps / 10, IncreInterval = Math.Max(1, p.Steps / 60), TargetModules = p.Linears, Seed = p.Seed,
    };
}
