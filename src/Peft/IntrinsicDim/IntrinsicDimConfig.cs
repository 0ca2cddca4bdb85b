namespace Engine.Peft.IntrinsicDim;

/// <summary>
/// Intrinsic-dimension training (Li et al. 2018, "Measuring the Intrinsic Dimension of Objective Landscapes",
/// arXiv 1804.08838; reference uber-research/intrinsic-dimension <c>keras_ext/rproj_layers_util.py</c>; spec
/// structure-and-optimizers.md §4.1): every targeted weight is W = W0 + its slice of P θ^(d), with one θ^(d) ∈ R^d for
/// the whole model (zeros at the start) and a frozen random P [D, d] (dense, sparse or Fastfood) that is never saved
/// but drawn again from <c>projection_seed</c>. Not in Hugging Face PEFT (the engine's <c>peft_type</c>
/// "INTRINSIC_DIM"); files hold θ^(d) under <c>base_model.intrinsic_theta_d</c>, and the configuration the seed and kind.
/// <code>var peft = Peft.Apply(gpt, new IntrinsicDimConfig { IntrinsicDim = 1000, TargetModules = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"] });</code>
/// </summary>
[PeftMethod("INTRINSIC_DIM", Layer = typeof(IntrinsicDimLayer), ModelPart = typeof(IntrinsicDimSubspace), Mergeable = true, StartsAtBase = true,
    InPeft = false, CliName = "intrinsic", ZooLearningRate = 1e-1)]
public sealed record IntrinsicDimConfig : PeftConfig
{
    /// <summary>d: the length of the trained vector θ^(d).</summary>
    public int IntrinsicDim { get; init; } = 1000;

    /// <summary>The kind of P: "fastfood" (default), "dense" or "sparse" (<see cref="SubspaceProjection.Kinds"/>).</summary>
    public string Projection { get; init; } = SubspaceProjection.Fastfood;

    /// <summary>Seed of P (the engine's Philox generator, counters from 0).</summary>
    public ulong ProjectionSeed { get; init; }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => IntrinsicDimSubspace.Plan(this);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (IntrinsicDim < 1) throw new ArgumentException($"IntrinsicDimConfig: intrinsic_dim must be positive, got {IntrinsicDim}");
        if (!SubspaceProjection.Kinds.Contains(Projection))
            throw new ArgumentException($"IntrinsicDimConfig: projection must be one of {string.Join(", ", SubspaceProjection.Kinds)}, got '{Projection}'");
    }

    /// <summary>
    /// The zoo's subspace: d = 512 × size, an eighth of LoRA's trainable count at the same size on the names GPT (rank
    /// r on its four 64-wide blocks trains 4096 r): d cannot exceed the D targeted weights, and this keeps the preset
    /// valid on the tests' small models (D = 4096 for a 16-wide BERT at size 4); `engine intrinsic-dim` sweeps d
    /// itself. Fastfood, every block projection.
    /// </summary>
    public static IntrinsicDimConfig Preset(AdapterPreset p) => new() { IntrinsicDim = 512 * p.Size, TargetModules = p.Linears, ProjectionSeed = p.Seed, Seed = p.Seed };
}
