namespace Engine.Peft.SharedBank;

/// <summary>
/// TinyLoRA ("Learning to Reason in 13 Parameters", arXiv:2602.04118; LoRA-XS with a random basis): frozen SVD factors
/// of each base weight around an r×r matrix R = Σ_i v_i P_i, with fixed random P [u, r, r] per layer and a tiny
/// trainable v [u] shared by a group of layers (<c>weight_tying</c>). PEFT's field names and defaults
/// (<c>tinylora/config.py</c>). P comes from the engine's generator, so files must hold it (<c>save_projection</c>).
/// <code>var peft = Peft.Apply(gpt, new TinyLoraConfig { R = 2, U = 64, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("TINYLORA", Layer = typeof(TinyLoraLayer), ModelPart = typeof(TinyLoraVectors), Mergeable = true, StartsAtBase = true, ZooLearningRate = 1e-2)]
public sealed record TinyLoraConfig : PeftConfig, IFileFormReader, IBiasConfig
{
    /// <summary>Rank r of the frozen SVD factors (at most min(out, in) per layer).</summary>
    public int R { get; init; } = 2;

    /// <summary>Length u of each trainable vector v.</summary>
    public int U { get; init; } = 64;

    /// <summary>
    /// Share of layers that share a vector: with N adapted layers there are max(1, round(N (1 - weight_tying))) groups
    /// of consecutive layers (0: one v per layer, 1: one v for all).
    /// </summary>
    public double WeightTying { get; init; }

    /// <summary>Layer l's P is drawn from a generator seeded projection_seed + l (the engine's generator, not torch's).</summary>
    public ulong ProjectionSeed { get; init; } = 42;

    /// <summary>Write each layer's P into the adapter file (needed to load it anywhere).</summary>
    public bool SaveProjection { get; init; } = true;

    /// <summary>Bound of v's uniform start.</summary>
    public double InitVBound { get; init; } = 0.02;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double TinyloraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>How v starts.</summary>
    public TinyLoraInit InitWeights { get; init; } = TinyLoraInit.Zero;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => TinyLoraVectors.Plan(this, context.Targets.Count);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"TinyLoraConfig: r must be positive, got {R}");
        if (U < 1) throw new ArgumentException($"TinyLoraConfig: u must be positive, got {U}");
        if (!(WeightTying >= 0 && WeightTying <= 1)) throw new ArgumentException($"TinyLoraConfig: weight_tying must be in [0, 1], got {WeightTying}");
        if (!(TinyloraDropout >= 0 && TinyloraDropout < 1)) throw new ArgumentException($"TinyLoraConfig: tinylora_dropout must be in [0, 1), got {TinyloraDropout}");
        RequireFiniteInFloat32("init_v_bound", InitVBound);
        TrainedBiases.Validate("TinyLoraConfig", Bias);
    }

    /// <inheritdoc/>
    public IReadOnlyList<PlannedTensor> FileForm(IReadOnlyList<PlannedTensor> plan, IReadOnlySet<string> fileKeys)
    {
        var missing = plan.FirstOrDefault(t => t.Key.EndsWith(".tinylora_P", StringComparison.Ordinal) && !fileKeys.Contains(t.Key));
        if (missing is not null)
            throw new InvalidDataException($"TINYLORA: '{missing.Key}' is not in the file (save_projection = {(SaveProjection ? "true" : "false")}); " +
                "PEFT redraws P from torch's generator seeded projection_seed + layer index, which the engine does not reproduce: save the adapter with save_projection = true");
        return plan;
    }

    /// <inheritdoc/>
    public Dictionary<string, Tensor> FromFileForm(Dictionary<string, Tensor> file, IReadOnlyList<PlannedTensor> plan) => file;

    /// <summary>The zoo's TinyLoRA: rank = size, u = 8 x size (PEFT's 64 at size 8), one v per layer.</summary>
    public static TinyLoraConfig Preset(AdapterPreset p) => new() { R = p.Size, U = 8 * p.Size, TargetModules = p.Linears, ProjectionSeed = p.Seed, Seed = p.Seed };
}
