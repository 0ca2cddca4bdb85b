using System.Text.Json.Serialization;
using Engine.Peft.Inserted;

namespace Engine.Peft.Transfer;

/// <summary>
/// ScaLearn (Frohmann et al. 2023, arXiv:2310.01217; CPJKU/ScaLearn <c>adapters/modeling.py::ScaLearn</c>,
/// <c>ScaLearnPlusPlus</c>, <c>layer.py::scalearn</c>; spec adapters-other.md §12): transfer from K frozen source
/// adapters, each a bottleneck adapter trained single-task first, by learned scaling of their outputs. Per targeted
/// module (the feed-forward output, as the reference's Pfeiffer adapters): h = Σ_k ω_k ⊙ a_k + r, a_k the k-th source's
/// up-projection output and r its residual input. Variants: ω_k ∈ R^d ("vector", ScaLearn), ω_k ∈ R ("scalar",
/// Uniform), and with <see cref="PerLayer"/> one ω set shared by every layer ("++"). Only ω trains (the reference's
/// field names and ScaLearnConfig2AvgInitDropout03's defaults). Not mergeable (the sources are non-linear).
/// The sources are the engine's <see cref="BottleneckConfig"/> adapters: read from the folders in <see cref="Adapters"/>
/// (order = k), or created in place from <see cref="NewSources"/> (tests). Files hold ω and a copy of each source's
/// tensors for the module (<c>scalearn_sources.&lt;k&gt;.adapter_down.weight</c>...), so a saved ScaLearn adapter reloads
/// exactly without its source folders; <c>adapters</c> stays in the config as the reference to where they came from.
/// <code>var peft = Peft.Apply(gpt, new ScaLearnConfig { Adapters = ["sources/female", "sources/male"], TargetModules = ["mlp.proj"] });</code>
/// </summary>
[PeftMethod("SCALEARN", Layer = typeof(ScaLearnLayer), ModelPart = typeof(ScaLearnOmega), Mergeable = false, StartsAtBase = false, InPeft = false,
    ZooLearningRate = 1e-3,
    Variants = ["scalearn-uniform: omega_shape=\"scalar\"", "scalearn-plusplus: per_layer=true", "scalearn-uniform-plusplus: omega_shape=\"scalar\", per_layer=true"])]
public sealed record ScaLearnConfig : PeftConfig, ISourceFolderConfig
{
    /// <summary>"vector": ω_k ∈ R^d per source (ScaLearn); "scalar": ω_k ∈ R (ScaLearnUniform).</summary>
    public string OmegaShape { get; init; } = "vector";

    /// <summary>"avg": ω starts at <see cref="OmegaInitScale"/>/K; "value": at <see cref="OmegaInitScale"/> (the reference's ScaLearn module; its ++ knows only "avg").</summary>
    public string OmegaInitType { get; init; } = "avg";

    /// <summary>The start's scale (the reference's omega_init_scale 2.0): ω ~ N(scale/K, 0.001²).</summary>
    public double OmegaInitScale { get; init; } = 2.0;

    /// <summary>Inverted dropout on ω itself in training (not on the activations; spec pitfall 7).</summary>
    public double DropoutRatio { get; init; } = 0.3;

    /// <summary>The reference's name for the "++" variants: true = ONE ω set shared by every layer (<c>init_shared_parameters_scalearn</c>).</summary>
    public bool PerLayer { get; init; }

    /// <summary>Adds the residual r (the reference's default; false leaves only Σ_k ω_k ⊙ a_k).</summary>
    public bool Residual { get; init; } = true;

    /// <summary>The sources' non-linearity (each source's <c>activation</c> must be this; checked when a source is read).</summary>
    public string Activation { get; init; } = "gelu";

    /// <summary>The source adapters, in the order of k: folders of BOTTLENECK adapters (relative paths are read from this config's folder, then the working directory).</summary>
    public IReadOnlyList<string>? Adapters { get; init; }

    /// <summary>
    /// The sources' bottleneck widths m_k, in the order of k: the engine records them when the adapter is added (from
    /// the sources), so a saved adapter plans its copied source tensors without the source folders.
    /// </summary>
    public IReadOnlyList<int>? SourceBottleneckSizes { get; init; }

    /// <summary>
    /// The engine's field: source bottleneck adapters created in place (their own initialisation, frozen) instead of
    /// <see cref="Adapters"/>; for tests. Not written: the file holds the sources' tensors.
    /// </summary>
    [JsonIgnore]
    public IReadOnlyList<BottleneckConfig>? NewSources { get; init; }

    /// <summary>
    /// The engine's field: <see cref="NewSources"/> are untrained stand-ins that a job must train single-task and put in
    /// <see cref="Adapters"/> before adding the adapter (the zoo's preset; <c>engine finetune</c>/<c>zoo</c> do it on the
    /// names tasks). Adding such a config refuses, saying so.
    /// </summary>
    [JsonIgnore]
    public bool SourcesNeedTraining { get; init; }

    /// <summary>The folder this config was read from (set when a folder is loaded), against which <see cref="Adapters"/> resolve.</summary>
    [JsonIgnore]
    public string? SourceFolder { get; init; }

    /// <inheritdoc/>
    public PeftConfig FromFolder(string folder) => this with { SourceFolder = folder };

    /// <summary>The number K of sources.</summary>
    [JsonIgnore]
    public int SourceCount => (Adapters?.Count ?? 0) + (NewSources?.Count ?? 0);

    /// <summary>True for ω_k ∈ R^d.</summary>
    [JsonIgnore]
    public bool VectorOmega => OmegaShape == "vector";

    /// <summary>The mean of ω's start.</summary>
    [JsonIgnore]
    public double OmegaInitValue => OmegaInitType == "avg" ? OmegaInitScale / SourceCount : OmegaInitScale;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => ScaLearnOmega.Plan(this, context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (OmegaShape is not ("vector" or "scalar")) throw new ArgumentException($"ScaLearnConfig: omega_shape must be 'vector' or 'scalar', got '{OmegaShape}'");
        if (OmegaInitType is not ("avg" or "value")) throw new ArgumentException($"ScaLearnConfig: omega_init_type must be 'avg' or 'value', got '{OmegaInitType}'");
        if (PerLayer && OmegaInitType != "avg") throw new ArgumentException("ScaLearnConfig: per_layer (the shared ++ ω) knows only omega_init_type 'avg', as the reference");
        RequireFiniteInFloat32("omega_init_scale", OmegaInitScale);
        if (!(DropoutRatio >= 0 && DropoutRatio < 1)) throw new ArgumentException($"ScaLearnConfig: dropout_ratio must be in [0, 1), got {DropoutRatio}");
        if (Activation is not ("gelu" or "relu" or "tanh")) throw new ArgumentException($"ScaLearnConfig: activation '{Activation}' is not one of gelu, relu, tanh");
        if (Adapters is { Count: > 0 } && NewSources is { Count: > 0 })
            throw new ArgumentException("ScaLearnConfig: give the sources either as adapters (BOTTLENECK folders) or as NewSources (created in place), not both");
        if (Adapters is { } a && a.Any(string.IsNullOrWhiteSpace)) throw new ArgumentException("ScaLearnConfig: an entry of adapters is empty");
        if (SourceBottleneckSizes is { } sizes && (sizes.Count != SourceCount || sizes.Any(m => m < 1)))
            throw new ArgumentException($"ScaLearnConfig: source_bottleneck_sizes [{string.Join(", ", sizes)}] must hold one positive width per source ({SourceCount})");
        foreach (var s in NewSources ?? [])
        {
            s.Validate();
            if (s.Activation != Activation) throw new ArgumentException($"ScaLearnConfig: a new source uses activation '{s.Activation}', the config '{Activation}'");
        }
    }

    /// <summary>
    /// The zoo's ScaLearn: two sources (bottleneck adapters of width size on the feed-forward outputs) that the names
    /// job trains single-task first (female names, male names: the target task's own adapter is one of the sources, as
    /// in the paper's GLUE/SuperGLUE setting), then ω on the target.
    /// </summary>
    public static ScaLearnConfig Preset(AdapterPreset p) => new()
    {
        NewSources = Enumerable.Range(0, 2).Select(_ => new BottleneckConfig { BottleneckSize = p.Size, TargetModules = p.FeedForwardOutputs, Seed = p.Seed }).ToList(),
        SourcesNeedTraining = true,
        TargetModules = p.FeedForwardOutputs,
        Seed = p.Seed,
    };
}
