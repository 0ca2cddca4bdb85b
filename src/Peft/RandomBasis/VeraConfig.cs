namespace Engine.Peft.RandomBasis;

/// <summary>
/// VeRA (Kopiczko et al. 2024): one pair of frozen random matrices shared by every adapted layer, with trainable
/// scaling vectors d [r] and b [out] per layer. PEFT's field names and defaults (r 256, d_initial 0.1).
/// The engine cannot reproduce torch's generator, so a file must hold the projections (<c>save_projection</c>).
/// <code>var peft = Peft.Apply(gpt, new VeraConfig { R = 64, TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("VERA", Layer = typeof(VeraLayer), ModelPart = typeof(VeraProjections), Mergeable = true, StartsAtBase = true, ZooLearningRate = 1e-1)]
public sealed record VeraConfig : PeftConfig, IRandomProjectionConfig, IBiasConfig
{
    string IRandomProjectionConfig.ProjectionPrefix => "vera";
    int IRandomProjectionConfig.ProjectionRowsA => R;
    int IRandomProjectionConfig.ProjectionColumnsB => R;

    /// <summary>Rank r of the shared random matrices.</summary>
    public int R { get; init; } = 256;

    /// <summary>Seed of the shared random matrices (PEFT's <c>projection_prng_key</c>; the engine's generator, not torch's).</summary>
    public ulong ProjectionPrngKey { get; init; }

    /// <summary>Write the shared matrices into the adapter file (needed to load them anywhere).</summary>
    public bool SaveProjection { get; init; } = true;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double VeraDropout { get; init; }

    /// <summary>Initial value of every entry of d.</summary>
    public double DInitial { get; init; } = 0.1;

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => VeraProjections.Plan(context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"VeraConfig: r must be positive, got {R}");
        if (!(VeraDropout >= 0 && VeraDropout < 1)) throw new ArgumentException($"VeraConfig: vera_dropout must be in [0, 1), got {VeraDropout}");
        RequireFiniteInFloat32("d_initial", DInitial);
        TrainedBiases.Validate("VeraConfig", Bias);
    }

    /// <summary>The zoo's VeRA: rank 8 x size (VeRA's rank is cheap: only d grows with it).</summary>
    public static VeraConfig Preset(AdapterPreset p) => new() { R = 8 * p.Size, TargetModules = p.Linears, ProjectionPrngKey = p.Seed };
}
