using System.Text.Json.Serialization;

namespace Engine.Peft.Inserted;

/// <summary>
/// Compacter (Karimi Mahabadi et al., NeurIPS 2021, arXiv 2106.04647; reference AdapterHub/adapters
/// <c>methods/modeling.py</c> <c>PHMLayer</c>, <c>init_shared_parameters</c>, <c>init_W</c>; spec
/// structure-and-optimizers.md §4.2): Houlsby bottleneck adapters (<see cref="BottleneckConfig"/>) whose down- and
/// up-projections are PHM layers, H = Σ_i A_i ⊗ W_i, with the rule matrices A [n, n, n] shared by every adapter layer
/// of the model (<see cref="CompacterRules"/>) and each W_i = W_left_i W_right_i of rank <c>phm_rank</c> (1: s_i t_iᵀ).
/// AdapterHub's field names and defaults (<c>BnConfig</c>, <c>CompacterConfig</c>). Not in PEFT: <c>peft_type</c>
/// "COMPACTER". Not mergeable (the adapter is non-linear). Only the form the paper trains is built: shared rules
/// (<c>shared_phm_rule</c>), per-layer W (<c>shared_W_phm</c> false), unfactorised rules.
/// <code>var peft = Peft.Apply(gpt, new CompacterConfig { ReductionFactor = 16, TargetModules = ["attn.proj", "mlp.proj"] });</code>
/// </summary>
[PeftMethod("COMPACTER", Layer = typeof(CompacterLayer), ModelPart = typeof(CompacterRules), StartsAtBase = false, InPeft = false, ZooLearningRate = 1e-1)]
public sealed record CompacterConfig : PeftConfig
{
    /// <summary>
    /// The bottleneck width is out_features / reduction_factor (rounded down, at least 1). AdapterHub's
    /// <c>CompacterConfig</c> class ships 32 (the spec's 16 is its <c>BnConfig</c> examples'; the reference code wins).
    /// </summary>
    public double ReductionFactor { get; init; } = 32;

    /// <summary>The non-linearity between the projections: "gelu", "relu" or "tanh".</summary>
    public string NonLinearity { get; init; } = "gelu";

    /// <summary>The number n of Kronecker terms; it must divide the adapted width and the bottleneck width.</summary>
    public int PhmDim { get; init; } = 4;

    /// <summary>The rank of each W_i = W_left_i W_right_i (with <see cref="FactorizedPhmW"/>).</summary>
    public int PhmRank { get; init; } = 1;

    /// <summary>W_i is the product W_left_i [in/n, rank] W_right_i [rank, out/n]; false: a full W [n, in/n, out/n].</summary>
    [JsonPropertyName("factorized_phm_W")]
    public bool FactorizedPhmW { get; init; } = true;

    /// <summary>The rules A are one tensor shared by all adapter layers (the only form the engine builds).</summary>
    public bool SharedPhmRule { get; init; } = true;

    /// <summary>W shared by all layers (AdapterHub's option; not built by the engine: must be false).</summary>
    [JsonPropertyName("shared_W_phm")]
    public bool SharedWPhm { get; init; }

    /// <summary>The rules factorised into left and right vectors (not built by the engine: must be false).</summary>
    public bool FactorizedPhmRule { get; init; }

    /// <summary>The rules start N(0, phm_init_range²) ("normal") or U(-1, 1) ("uniform"), as <c>init_shared_parameters</c>.</summary>
    public string PhmCInit { get; init; } = "normal";

    /// <summary>The standard deviation of the rules with <c>phm_c_init</c> "normal".</summary>
    public double PhmInitRange { get; init; } = 1e-4;

    /// <summary>
    /// The distribution of W's factors: one of phm, glorot-normal, glorot-uniform, normal. The reference's
    /// <c>init_W</c> first tests the truthiness of this string, so every accepted value draws Xavier-normal slices
    /// (each W_left_i, W_right_i, or W_i); the engine does the same.
    /// </summary>
    public string HypercomplexNonlinearity { get; init; } = "glorot-uniform";

    /// <summary>The shared rules train.</summary>
    public bool LearnPhm { get; init; } = true;

    /// <summary>Each projection has a bias b (zero at the start).</summary>
    public bool PhmBias { get; init; } = true;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => CompacterRules.Plan(this);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (!(ReductionFactor > 0) || !double.IsFinite(ReductionFactor)) throw new ArgumentException($"CompacterConfig: reduction_factor must be positive, got {ReductionFactor}");
        if (NonLinearity is not ("gelu" or "relu" or "tanh")) throw new ArgumentException($"CompacterConfig: non_linearity '{NonLinearity}' is not one of gelu, relu, tanh");
        if (PhmDim < 1) throw new ArgumentException($"CompacterConfig: phm_dim must be positive, got {PhmDim}");
        if (PhmRank < 1) throw new ArgumentException($"CompacterConfig: phm_rank must be positive, got {PhmRank}");
        if (!SharedPhmRule || SharedWPhm || FactorizedPhmRule)
            throw new ArgumentException("CompacterConfig: the engine builds Compacter's form only: shared_phm_rule true, shared_W_phm false, factorized_phm_rule false");
        if (PhmCInit is not ("normal" or "uniform")) throw new ArgumentException($"CompacterConfig: phm_c_init '{PhmCInit}' is not one of normal, uniform");
        if (!(PhmInitRange >= 0) || !double.IsFinite(PhmInitRange)) throw new ArgumentException($"CompacterConfig: phm_init_range must be finite and non-negative, got {PhmInitRange}");
        if (HypercomplexNonlinearity is not ("phm" or "glorot-normal" or "glorot-uniform" or "normal"))
            throw new ArgumentException($"CompacterConfig: hypercomplex_nonlinearity '{HypercomplexNonlinearity}' is not one of phm, glorot-normal, glorot-uniform, normal");
    }

    /// <summary>The bottleneck width m for an adapted width <paramref name="features"/>: floor(features / reduction_factor), at least 1.</summary>
    public int BottleneckFor(int features) => Math.Max(1, (int)Math.Floor(features / ReductionFactor));

    /// <summary>
    /// The zoo's Compacter: after both sub-layer outputs, layer norms trained as in the paper, n = 4, rank 1, and a
    /// bottleneck of a quarter of the width (reduction 4, so that the test models' width 16 still gives a multiple
    /// of n); the size knob does not apply (Compacter's count is set by the widths: 2 rank (d + m) + d + m per layer).
    /// </summary>
    public static CompacterConfig Preset(AdapterPreset p) => new()
    {
        ReductionFactor = 4, TargetModules = p.SublayerOutputs, ModulesToSave = ["ln1", "ln2"], Seed = p.Seed,
    };
}
