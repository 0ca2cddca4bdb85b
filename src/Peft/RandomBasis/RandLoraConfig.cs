namespace Engine.Peft.RandomBasis;

/// <summary>
/// RandLoRA (Albert et al., ICLR 2025): full-rank updates from shared frozen random bases, each scaled by trainable
/// diagonals; PEFT's field names and defaults (r 32, randlora_alpha 640). The engine cannot reproduce torch's
/// generator, so a file must hold the bases (<c>save_projection</c>).
/// <code>var peft = Peft.Apply(gpt, new RandLoraConfig { R = 8, TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("RANDLORA", Layer = typeof(RandLoraLayer), ModelPart = typeof(RandLoraProjections), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-3)]
public sealed record RandLoraConfig : PeftConfig, IBiasConfig
{
    /// <summary>Rank r of each random basis (the number of bases is ceil(min(in, out) / r), so smaller r trains more).</summary>
    public int R { get; init; } = 32;

    /// <summary>Seed of the shared bases (PEFT's <c>projection_prng_key</c>; the engine's generator, not torch's).</summary>
    public ulong ProjectionPrngKey { get; init; }

    /// <summary>Write the shared bases into the adapter file (needed to load them anywhere).</summary>
    public bool SaveProjection { get; init; } = true;

    /// <summary>Ternary bases with P(±1) = 1/6 each (Ping Li et al.'s sparse random projections, s = 3).</summary>
    public bool Sparse { get; init; }

    /// <summary>Ternary bases with s = sqrt(min dim): sparser still; wins over <see cref="Sparse"/>.</summary>
    public bool VerySparse { get; init; }

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double RandloraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>The scale is randlora_alpha / r (PEFT's default 640 makes it 20).</summary>
    public double RandloraAlpha { get; init; } = 640;

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>True: lambda = 0 (the adapted model starts at the base) and gamma = 1 / max(gamma's shape); false:
    /// lambda ~ N(0, 1) and gamma = 1 / max(in, out), as PEFT.</summary>
    public bool InitWeights { get; init; } = true;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => RandLoraProjections.Plan(context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"RandLoraConfig: r must be positive, got {R}");
        if (!(RandloraDropout >= 0 && RandloraDropout < 1)) throw new ArgumentException($"RandLoraConfig: randlora_dropout must be in [0, 1), got {RandloraDropout}");
        RequireFiniteInFloat32("randlora_alpha", RandloraAlpha);
        TrainedBiases.Validate("RandLoraConfig", Bias);
    }

    /// <summary>The zoo's RandLoRA: basis rank = size, with PEFT's default scale alpha / r = 20.</summary>
    public static RandLoraConfig Preset(AdapterPreset p) =>
        new() { R = p.Size, RandloraAlpha = 20 * p.Size, TargetModules = p.Linears, ProjectionPrngKey = p.Seed };
}
