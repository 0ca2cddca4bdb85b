namespace Engine.Peft.Sparse;

/// <summary>
/// SaRA, progressive sparse low-rank adaptation (Hu et al. 2024, arXiv 2409.06633; sjtuplayer/SaRA
/// <c>optim/adamw2.py</c>, <c>optim/adamw.py</c>; spec adapters-other.md section 5): fine-tunes only the entries of
/// each targeted weight with |W0| &lt; θ — the pretrained model's least effective parameters. The reference does it
/// inside AdamW with a mask; the engine's reading is an adapter: ΔW is a <see cref="SparseDelta"/> on P = {|W0| &lt; θ}
/// (values start at 0, positions saved), which the job's AdamW trains — exactly masked AdamW on W[P]. Options: the
/// nuclear-norm regulariser λ ‖W ⊙ M‖_* on one random targeted weight per step, and progressive re-selection
/// (adamw2's intersection) after <see cref="ProgressiveIter"/> steps. Not in Hugging Face PEFT: saved in its layout
/// with the engine's <c>peft_type</c> "SARA". Mergeable by scatter-add.
/// <code>var peft = Peft.Apply(gpt, new SaraConfig { Threshold = 2e-3, TargetModules = ["qkv", "mlp.fc"] });</code>
/// </summary>
[PeftMethod("SARA", Layer = typeof(SaraLayer), ModelPart = typeof(SaraModelPart), Mergeable = true, StartsAtBase = true, InPeft = false, ZooLearningRate = 3e-2)]
public sealed record SaraConfig : PeftConfig
{
    /// <summary>θ: entries with |W0| &lt; θ train (the reference's <c>threshold</c>; its scripts use 2e-3).</summary>
    public double Threshold { get; init; } = 2e-3;

    /// <summary>
    /// The learning rate of the trained entries; null: the reference's rule 1e-3 · exp(−350 θ) (≈ 4.97e-4 at θ = 2e-3),
    /// unless <see cref="UseJobLr"/>.
    /// </summary>
    public double? Lr { get; init; }

    /// <summary>The engine's option: train at the job's learning rate (the zoo's, tuned like every method's) instead of <see cref="Lr"/> or the rule.</summary>
    public bool UseJobLr { get; init; }

    /// <summary>λ of the nuclear-norm regulariser (the reference's <c>lambda_rank</c>; 0 turns it off).</summary>
    public double LambdaRank { get; init; } = 5e-4;

    /// <summary>The regulariser picks among weights with min(out, in) above this (the reference's 64; the engine's field, so small models can use it).</summary>
    public int NuclearMinDim { get; init; } = 64;

    /// <summary>Steps before progressive re-selection (the reference's <c>progressive_iter</c>; −1: never, its default).</summary>
    public int ProgressiveIter { get; init; } = -1;

    /// <summary>The reference's learning-rate rule for threshold θ: 1e-3 · exp(−350 θ).</summary>
    public static double ThresholdLearningRate(double threshold) => 1e-3 * Math.Exp(-350 * threshold);

    /// <summary>The rate the trained entries use when the job's rate is <paramref name="jobLr"/>.</summary>
    public double LearningRate(double jobLr) => UseJobLr ? jobLr : Lr ?? ThresholdLearningRate(Threshold);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (!(Threshold > 0) || !double.IsFinite(Threshold)) throw new ArgumentException($"SaraConfig: threshold must be positive and finite, got {Threshold}");
        if (Lr is { } lr && !(lr > 0)) throw new ArgumentException($"SaraConfig: lr must be positive, got {lr}");
        if (!(LambdaRank >= 0) || !double.IsFinite(LambdaRank)) throw new ArgumentException($"SaraConfig: lambda_rank must be finite and non-negative, got {LambdaRank}");
        if (NuclearMinDim < 0) throw new ArgumentException($"SaraConfig: nuclear_min_dim must be non-negative, got {NuclearMinDim}");
        if (ProgressiveIter < -1) throw new ArgumentException($"SaraConfig: progressive_iter must be -1 (off) or a step count, got {ProgressiveIter}");
    }

    /// <summary>
    /// The zoo's SaRA: every projection, θ set so that about the size's LoRA count of entries train (a quantile of the
    /// names model's weights is not known here, so θ = 2e-3 · size / 4; measured counts are in the docs), at the
    /// job's learning rate, the regulariser on for weights wider than 16 (the names model's are 64 to 256 wide).
    /// </summary>
    public static SaraConfig Preset(AdapterPreset p) => new()
    {
        Threshold = 2e-3 * Math.Max(1, p.Size) / 4, UseJobLr = true, NuclearMinDim = 16, TargetModules = p.Linears, Seed = p.Seed,
    };
}
