namespace Engine.Peft.ModuleSearch;

/// <summary>
/// DiffoRA (arXiv 2502.08905; paper only, no public code; spec adapters-lowrank.md section 3): LoRA whose modules are
/// chosen by a differentiable mask. The engine's reading (DARTS-style, the spec's engine form): each adapted module m
/// has a gate logit g_m and y = y_base + σ(g_m) · s · B A drop(x), s = lora_alpha / r; a search phase trains the gates
/// and the LoRA factors jointly; discretisation (<see cref="DifforaModelPart.Discretise"/>, automatically after
/// <see cref="SearchSteps"/> optimiser steps) keeps the top <see cref="KeepRatio"/> fraction of modules by σ(g), folds
/// each kept gate value into its B (weight sharing: the searched A, B go on, and the output is unchanged at that
/// moment) and removes the dropped modules' tensors. Afterwards the adapter is plain LoRA on
/// <see cref="KeptModules"/>. The engine's <c>peft_type</c> "DIFFORA"; LoRA's tensor names (<c>lora_A.weight</c>,
/// <c>lora_B.weight</c>) plus <c>diffora_gate</c> [1] during the search.
/// <code>var peft = Peft.Apply(gpt, new DifforaConfig { R = 4, LoraAlpha = 8, SearchSteps = 100, TargetModules = ["qkv", "mlp.fc"] });</code>
/// </summary>
[PeftMethod("DIFFORA", Layer = typeof(DifforaLayer), ModelPart = typeof(DifforaModelPart), Mergeable = true, StartsAtBase = true, InPeft = false,
    ZooLearningRate = 1e-2)]
public sealed record DifforaConfig : PeftConfig
{
    /// <summary>Rank r of each module's B A.</summary>
    public int R { get; init; } = 8;

    /// <summary>alpha: the update is scaled by alpha / r.</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double LoraDropout { get; init; }

    /// <summary>True: B = 0 (the model starts at the base); false: B random too (tests).</summary>
    public bool InitLoraWeights { get; init; } = true;

    /// <summary>The starting gate logit g of every module (0: σ(g) = 1/2, no module preferred).</summary>
    public double GateInit { get; init; }

    /// <summary>Optimiser steps of the search phase: the step hook discretises after this many; null: only an explicit <see cref="DifforaModelPart.Discretise"/>.</summary>
    public int? SearchSteps { get; init; }

    /// <summary>The fraction ρ of modules kept: ⌈ρ · M⌉ of the M adapted modules, at least one.</summary>
    public double KeepRatio { get; init; } = 0.5;

    /// <summary>
    /// The kept modules (paths as in the files) once discretised, null during the search. Set by the discretisation
    /// and saved, so a file reloads as plain LoRA on exactly these modules; the other targets hold no tensors.
    /// </summary>
    public IReadOnlyList<string>? KeptModules { get; init; }

    /// <summary>The scale s = alpha / r.</summary>
    public double Scaling => LoraAlpha / R;

    /// <summary>The number of modules kept out of <paramref name="modules"/>: ⌈ρ · M⌉, clamped to [1, M].</summary>
    public int KeptCount(int modules) => Math.Clamp((int)Math.Ceiling(KeepRatio * modules - 1e-9), 1, Math.Max(1, modules));

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"DifforaConfig: r must be positive, got {R}");
        RequireFiniteInFloat32("lora_alpha", LoraAlpha);
        RequireFiniteInFloat32("gate_init", GateInit);
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw new ArgumentException($"DifforaConfig: lora_dropout must be in [0, 1), got {LoraDropout}");
        if (SearchSteps is < 1) throw new ArgumentException($"DifforaConfig: search_steps must be positive (or null for an explicit discretisation), got {SearchSteps}");
        if (!(KeepRatio > 0 && KeepRatio <= 1)) throw new ArgumentException($"DifforaConfig: keep_ratio must be in (0, 1], got {KeepRatio}");
        if (KeptModules is { } kept && (kept.Count == 0 || kept.Any(string.IsNullOrEmpty)))
            throw new ArgumentException("DifforaConfig: kept_modules, when set, must name at least one module (a discretisation keeps one or more)");
    }

    /// <summary>
    /// The zoo's DiffoRA at LoRA's final budget: rank 2·size and alpha 4·size (s = 2, as LoRA's preset) on every block
    /// projection, half of the modules kept, so after the search about as many tensors train as LoRA at rank size.
    /// The search is the first quarter of the steps.
    /// </summary>
    public static DifforaConfig Preset(AdapterPreset p) => new()
    {
        R = 2 * p.Size, LoraAlpha = 4 * p.Size, KeepRatio = 0.5, SearchSteps = Math.Max(1, p.Steps / 4), TargetModules = p.Linears, Seed = p.Seed,
    };
}
