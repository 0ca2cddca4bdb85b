namespace Engine.Peft.Elementwise;

/// <summary>
/// Super-Tuning (PEFT's <c>SupertuningConfig</c>; sparse fine-tuning of the largest weights, with the paper's "Supra"
/// hybrid when r is set): ΔW = scatter(indices, values) + (lora_alpha / r) B A, the indices the k = int(out in (1 −
/// sparsity)) entries of largest |W0| (smallest with select_top = false). PEFT's field names and defaults.
/// <code>var peft = Peft.Apply(gpt, new SupertuningConfig { Sparsity = 0.95, TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("SUPERTUNING", Layer = typeof(SupertuningLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 1e-1,
    Variants = ["supertuning_unsaved: save_precomputed_indices=false"])]
public sealed record SupertuningConfig : PeftConfig
{
    /// <summary>The fraction of each weight that stays frozen, in [0, 1).</summary>
    public double Sparsity { get; init; } = 0.99;

    /// <summary>True: train the entries of largest magnitude; false: the smallest.</summary>
    public bool SelectTop { get; init; } = true;

    /// <summary>The rank of the added LoRA (Supra), or null for the sparse update alone.</summary>
    public int? R { get; init; }

    /// <summary>The LoRA's alpha (scale alpha / r); null means 2 r, as PEFT fills it in.</summary>
    public double? LoraAlpha { get; init; }

    /// <summary>Dropout on the LoRA's input (the sparse part sees the plain input).</summary>
    public double LoraDropout { get; init; }

    /// <summary>True: values = 0 and LoRA B = 0, so the model starts at the base; false: values ~ N(0, 1), B Kaiming (tests).</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>
    /// True: files hold the indices (<c>supertuning_indices</c>); false: PEFT leaves them out and recomputes them from
    /// the base weight at load. The engine loads both, and writes the indices in either case so its files reload exactly.
    /// </summary>
    public bool SavePrecomputedIndices { get; init; } = true;

    /// <summary>The LoRA scale alpha / r (alpha defaulting to 2 r), or 0 without a LoRA.</summary>
    public double LoraScaling => R is { } r ? (LoraAlpha ?? 2.0 * r) / r : 0;

    /// <summary>The number of trained entries of a weight with <paramref name="numel"/> elements: int(numel (1 − sparsity)), as PEFT.</summary>
    public int TrainedEntries(long numel) => (int)Math.Min(int.MaxValue, Math.Floor(numel * (1 - Sparsity)));

    /// <inheritdoc/>
    public override void Validate()
    {
        if (!(Sparsity >= 0 && Sparsity < 1)) throw new ArgumentException($"SupertuningConfig: sparsity must be in [0, 1), got {Sparsity}");
        if (R is { } r && r < 1) throw new ArgumentException($"SupertuningConfig: r must be a positive integer or null, got {r}");
        if (R is null && LoraAlpha is not null) throw new ArgumentException("SupertuningConfig: lora_alpha is set but r is null (Supra mode needs an explicit r)");
        if (LoraAlpha is { } a) RequireFiniteInFloat32("lora_alpha", a);
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw new ArgumentException($"SupertuningConfig: lora_dropout must be in [0, 1), got {LoraDropout}");
    }

    /// <summary>The zoo's Super-Tuning: size percent of each weight trained (sparsity 1 − size / 100), every block projection.</summary>
    public static SupertuningConfig Preset(AdapterPreset p) =>
        new() { Sparsity = Math.Max(0, 1 - p.Size / 100.0), TargetModules = p.Linears, Seed = p.Seed };
}
