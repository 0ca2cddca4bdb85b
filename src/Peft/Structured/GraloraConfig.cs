namespace Engine.Peft.Structured;

/// <summary>
/// GraLoRA (Jung et al. 2025, "Granular Low-Rank Adaptation"; PEFT's <c>GraloraConfig</c>): the weight is cut into a
/// k × k grid of blocks and each block gets its own rank-(r/k) LoRA, so the update's rank can reach k r at LoRA's
/// parameter count r (in + out); hybrid_r adds a plain LoRA of that rank beside the grid. Scale alpha / (r + hybrid_r).
/// PEFT's field names and defaults (r 32, alpha 64, gralora_k 2, hybrid_r 0).
/// <code>var peft = Peft.Apply(gpt, new GraloraConfig { R = 8, Alpha = 16, GraloraK = 2, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("GRALORA", Layer = typeof(GraloraLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 1e-2)]
public sealed record GraloraConfig : PeftConfig, IBiasConfig
{
    /// <summary>Rank r of each grid row's LoRA (r / k per block); k must divide it.</summary>
    public int R { get; init; } = 32;

    /// <summary>Rank of the plain LoRA added beside the grid (0: none).</summary>
    public int HybridR { get; init; }

    /// <summary>alpha: the update is scaled by alpha / (r + hybrid_r).</summary>
    public double Alpha { get; init; } = 64;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double GraloraDropout { get; init; }

    /// <summary>k: the grid has k × k blocks; k must divide r and both widths of each adapted layer.</summary>
    public int GraloraK { get; init; } = 2;

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D; written on save).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>True: B = 0 (hybrid B too), so the model starts at the base; false: every factor random (tests).</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>alpha / (r + hybrid_r).</summary>
    public double Scaling => Alpha / (R + HybridR);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"GraloraConfig: r must be positive, got {R}");
        if (HybridR < 0) throw new ArgumentException($"GraloraConfig: hybrid_r must be non-negative, got {HybridR}");
        if (GraloraK < 1) throw new ArgumentException($"GraloraConfig: gralora_k must be positive, got {GraloraK}");
        if (R % GraloraK != 0) throw new ArgumentException($"GraloraConfig: r ({R}) must be divisible by gralora_k ({GraloraK})");
        RequireFiniteInFloat32("alpha", Alpha);
        if (!(GraloraDropout >= 0 && GraloraDropout < 1)) throw new ArgumentException($"GraloraConfig: gralora_dropout must be in [0, 1), got {GraloraDropout}");
        TrainedBiases.Validate("GraloraConfig", Bias);
    }

    /// <summary>The zoo's GraLoRA: rank = size (made even for the 2 × 2 grid), alpha = 2 rank, every block projection.</summary>
    public static GraloraConfig Preset(AdapterPreset p)
    {
        int r = p.Size + p.Size % 2;
        return new() { R = r, Alpha = 2 * r, TargetModules = p.Linears, Seed = p.Seed };
    }
}
