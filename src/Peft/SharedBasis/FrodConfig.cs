namespace Engine.Peft.SharedBasis;

/// <summary>
/// FRoD (PEFT's <c>frod</c>): every targeted W = U diag(λ) Vᵀ over a basis V shared by the layers of one role
/// ("category"), with trainable λ and a fixed sparse off-diagonal S; the layer computes U (S + diag λ) Vᵀ x + b.
/// PEFT's field names and defaults (sparse_rate 0.01, regularization_alpha 1e-3).
/// <code>var peft = Peft.Apply(gpt, new FrodConfig { TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("FROD", Layer = typeof(FrodLayer), ModelPart = typeof(FrodProjections), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-2)]
public sealed record FrodConfig : PeftConfig, IBiasConfig
{
    /// <summary>Seed of the sparse positions of S (PEFT's <c>projection_prng_key</c>; the engine's generator, not torch's).</summary>
    public ulong ProjectionPrngKey { get; init; }

    /// <summary>Write V and S's positions into the adapter file. Must be true: PEFT would rebuild the positions with
    /// torch's randperm, which the engine cannot reproduce.</summary>
    public bool SaveProjection { get; init; } = true;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double FrodDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>True: S starts at zero (the model starts at the base up to the solve's rounding); false: S ~ N(0, 0.1²)
    /// and λ += N(0, 0.1²), as PEFT.</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>Fraction of the in² off-diagonal positions of S that train (at least one when positive).</summary>
    public double SparseRate { get; init; } = 0.01;

    /// <summary>Ridge α of the joint decomposition's inverse (Q_lᵀ Q_l + α I)⁻¹.</summary>
    public double RegularizationAlpha { get; init; } = 1e-3;

    /// <summary>PEFT's progress bar (ignored).</summary>
    public bool Progressbar { get; init; } = true;

    /// <summary>PEFT's GPU-memory option of keeping the base weight on the CPU (ignored: no effect on the math).</summary>
    public bool RuntimeOffloadBaseWeight { get; init; }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => FrodProjections.Plan(context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (!(SparseRate >= 0 && SparseRate <= 1)) throw new ArgumentException($"FrodConfig: sparse_rate must be in [0, 1], got {SparseRate}");
        if (!(FrodDropout >= 0 && FrodDropout < 1)) throw new ArgumentException($"FrodConfig: frod_dropout must be in [0, 1), got {FrodDropout}");
        RequireFiniteInFloat32("regularization_alpha", RegularizationAlpha);
        TrainedBiases.Validate("FrodConfig", Bias);
        if (!SaveProjection)
            throw new NotSupportedException("FrodConfig: save_projection = false is not supported: without frod_s_indices in the file, PEFT draws S's positions with torch's randperm, which the engine cannot reproduce");
    }

    /// <summary>The zoo's FRoD: sparse rate size / 256 (rank 8: about 3 % of the off-diagonal).</summary>
    public static FrodConfig Preset(AdapterPreset p) => new() { SparseRate = p.Size / 256.0, TargetModules = p.Linears, ProjectionPrngKey = p.Seed };
}
