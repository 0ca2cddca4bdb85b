using Engine.Peft.RandomBasis;

namespace Engine.Peft.SharedBank;

/// <summary>
/// PVeRA (probabilistic VeRA; PEFT's <c>pvera</c>): VeRA's shared frozen random matrices with A of 2r rows, whose
/// scaled projection is read as a mean and a log-variance; training samples the latent (the reparametrisation trick),
/// evaluation uses the mean. PEFT's field names and defaults (<c>pvera/config.py</c>; r 256, d_initial 0.1). The
/// matrices come from the engine's generator, so files must hold them (<c>save_projection</c>).
/// <code>var peft = Peft.Apply(gpt, new PveraConfig { R = 64, TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("PVERA", Layer = typeof(PveraLayer), ModelPart = typeof(VeraProjections), Mergeable = true, StartsAtBase = true, ZooLearningRate = 1e-1)]
public sealed record PveraConfig : PeftConfig, IRandomProjectionConfig, IBiasConfig
{
    string IRandomProjectionConfig.ProjectionPrefix => "pvera";
    int IRandomProjectionConfig.ProjectionRowsA => 2 * R;
    int IRandomProjectionConfig.ProjectionColumnsB => R;

    /// <summary>Rank r: A has 2r rows (mean and log-variance), B r columns.</summary>
    public int R { get; init; } = 256;

    /// <summary>Seed of the shared random matrices (PEFT's <c>projection_prng_key</c>; the engine's generator, not torch's).</summary>
    public ulong ProjectionPrngKey { get; init; }

    /// <summary>Write the shared matrices into the adapter file (needed to load them anywhere).</summary>
    public bool SaveProjection { get; init; } = true;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double PveraDropout { get; init; }

    /// <summary>Initial value of every entry of d.</summary>
    public double DInitial { get; init; } = 0.1;

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>True: b = 0 and d = d_initial (the model starts at the base); false: b = 1 and d ~ N(0, 1), as PEFT.</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>Sample the latent in evaluation too (PEFT's <c>sample_at_inference</c>); training always samples.</summary>
    public bool SampleAtInference { get; init; }

    /// <summary>Seed of the sampling noise (the engine's generator), or null for the layer's own generator.</summary>
    public ulong? GeneratorSeed { get; init; }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => VeraProjections.Plan(context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"PveraConfig: r must be positive, got {R}");
        if (!(PveraDropout >= 0 && PveraDropout < 1)) throw new ArgumentException($"PveraConfig: pvera_dropout must be in [0, 1), got {PveraDropout}");
        RequireFiniteInFloat32("d_initial", DInitial);
        TrainedBiases.Validate("PveraConfig", Bias);
    }

    /// <summary>The zoo's PVeRA: rank 8 x size, as VeRA's.</summary>
    public static PveraConfig Preset(AdapterPreset p) => new() { R = 8 * p.Size, TargetModules = p.Linears, ProjectionPrngKey = p.Seed, GeneratorSeed = p.Seed };
}
