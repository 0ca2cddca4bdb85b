using System.Text.Json.Serialization;

namespace Engine.Peft.LowRank;

/// <summary>
/// AdaLoRA (Zhang et al. 2023): an SVD-like update P diag(lambda) Q whose rank budget shrinks during training from
/// <see cref="InitR"/> to <see cref="TargetR"/> per layer on a cubic schedule, keeping the triplets with the highest
/// sensitivity-times-uncertainty importance. PEFT's field names and defaults; <see cref="TotalStep"/> is required to
/// train. The schedule and the orthogonality regulariser run by themselves through the adapted model's training
/// hooks (<see cref="Trainer"/>; a hand-written loop adds <see cref="PeftModel.RegularizationLoss"/> and calls
/// <see cref="PeftModel.OnStep"/>).
/// <code>var peft = Peft.Apply(gpt, new AdaLoraConfig { InitR = 12, TargetR = 4, TotalStep = 1000, TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("ADALORA", Layer = typeof(AdaLoraLayer), ModelPart = typeof(AdaLoraModelPart), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-2)]
public sealed record AdaLoraConfig : PeftConfig, IAdaptiveRankConfig
{
    /// <summary>PEFT's inherited LoRA rank field: ignored by AdaLoRA (PEFT warns when it is not 8).</summary>
    public int R { get; init; } = 8;

    /// <summary>Rank of every layer at the start (the budget is InitR times the number of layers).</summary>
    public int InitR { get; init; } = 12;

    /// <summary>Average rank per layer at the end.</summary>
    public int TargetR { get; init; } = 8;

    /// <summary>Warm-up steps before any masking (t_init).</summary>
    public int Tinit { get; init; }

    /// <summary>Final steps at the target budget, with the rank pattern fixed (t_final).</summary>
    public int Tfinal { get; init; }

    /// <summary>Steps between two reallocations (Delta T).</summary>
    [JsonPropertyName("deltaT")]
    public int DeltaT { get; init; } = 1;

    /// <summary>EMA coefficient of the sensitivity.</summary>
    public double Beta1 { get; init; } = 0.85;

    /// <summary>EMA coefficient of the uncertainty.</summary>
    public double Beta2 { get; init; } = 0.85;

    /// <summary>Weight gamma of the orthogonality regulariser.</summary>
    public double OrthRegWeight { get; init; } = 0.5;

    /// <summary>Total training steps T (required to train, positive).</summary>
    public int? TotalStep { get; init; }

    /// <summary>alpha: the update is scaled by alpha / (ranknum + 1e-5) with ranknum = InitR; alpha &lt;= 0 means the layer's rank.</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double LoraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>
    /// Kept triplets per layer, keyed <c>&lt;module path&gt;.lora_E</c> (PEFT's <c>rank_pattern</c>), set when the
    /// budget schedule reaches its final phase; a loaded adapter is built with only the kept triplets.
    /// </summary>
    public IReadOnlyDictionary<string, bool[]>? RankPattern { get; init; }

    /// <summary>The mask of kept triplets of the module at <paramref name="path"/>, or null before the pattern is fixed.</summary>
    public bool[]? MaskFor(ModulePath path) =>
        RankPattern is { } p && p.TryGetValue(path.External + ".lora_E", out var mask) ? mask : null;

    string IAdaptiveRankConfig.MethodName => "AdaLoRA";
    int IAdaptiveRankConfig.InitialRank => InitR;
    int IAdaptiveRankConfig.TargetRank => TargetR;

    /// <summary>Triplets kept at <paramref name="path"/>: all of <see cref="InitR"/> before the first masking step fixes a pattern.</summary>
    public int RankOf(ModulePath path) => MaskFor(path) is { } keep ? keep.Count(k => k) : InitR;

    /// <summary>Checks the ranks and, for a trainable adapter, the schedule (PEFT's validation).</summary>
    public override void Validate()
    {
        if (InitR < 1 || TargetR < 0 || TargetR > InitR) throw new ArgumentException($"AdaLoraConfig: need 1 <= init_r and 0 <= target_r <= init_r, got init_r {InitR}, target_r {TargetR}");
        RequireFiniteInFloat32("lora_alpha", LoraAlpha);
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw new ArgumentException($"AdaLoraConfig: lora_dropout must be in [0, 1), got {LoraDropout}");
        if (RankPattern is { } pattern)
            foreach (var (key, mask) in pattern)
                if (mask is null || mask.Length != InitR) throw new ArgumentException($"AdaLoraConfig: rank_pattern['{key}'] has {mask?.Length ?? 0} flags, init_r is {InitR}");
        if (InferenceMode) return;
        if (TotalStep is not > 0) throw new ArgumentException($"AdaLoraConfig: total_step must be positive to train, got {TotalStep?.ToString() ?? "null"}");
        if (Tinit >= TotalStep - Tfinal) throw new ArgumentException($"AdaLoraConfig: tinit {Tinit} must be below total_step - tfinal = {TotalStep - Tfinal}; no steps are left for the budget schedule");
        if (DeltaT < 1) throw new ArgumentException($"AdaLoraConfig: deltaT must be at least 1, got {DeltaT}");
        if (!(OrthRegWeight >= 0)) throw new ArgumentException($"AdaLoraConfig: orth_reg_weight must be non-negative, got {OrthRegWeight}");
    }

    /// <summary>The zoo's AdaLoRA: rank 1.5 x size shrinking to size, the schedule spread over the run.</summary>
    public static AdaLoraConfig Preset(AdapterPreset p) => new()
    {
        InitR = p.Size + p.Size / 2, TargetR = p.Size, LoraAlpha = 2 * p.Size, TargetModules = p.Linears, TotalStep = p.Steps,
        Tinit = p.Steps / 10, Tfinal = p.Steps / 5, DeltaT = Math.Max(1, p.Steps / 50), Seed = p.Seed,
    };
}
