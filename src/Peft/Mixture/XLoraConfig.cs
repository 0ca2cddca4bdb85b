using System.Text.Json.Serialization;
using Engine.Peft.LowRank;

namespace Engine.Peft.Mixture;

/// <summary>
/// X-LoRA (Buehler and Buehler 2024, arXiv:2402.07148): frozen LoRA experts mixed per token and per layer by a
/// classifier that reads the model's last hidden state (<see cref="XLoraModelPart"/>). PEFT's field names and defaults
/// (<c>xlora/config.py</c>). The experts are ordinary LoRA adapters: loaded from the folders in <c>adapters</c> (name →
/// folder), or created in place from <see cref="NewExperts"/> (the engine's field, for the zoo and tests; a saved
/// adapter lists them in <c>adapters</c>). Not mergeable: the mixture depends on each token.
/// <code>var peft = Peft.Apply(gpt, new XLoraConfig { Adapters = new Dictionary&lt;string, string&gt; { ["a"] = "experts/a", ["b"] = "experts/b" } });</code>
/// </summary>
[PeftMethod("XLORA", ModelPart = typeof(XLoraModelPart), Mergeable = false, StartsAtBase = true, ZooLearningRate = 3e-3)]
public sealed record XLoraConfig : PeftConfig, ISourceFolderConfig
{
    /// <summary>The width of the model's last hidden state; null takes the model's (PEFT defaults to 4096 with a warning).</summary>
    public int? HiddenSize { get; init; }

    /// <summary>The experts: name → folder of a PEFT LoRA adapter (relative paths are read from this config's folder, then the working directory).</summary>
    public IReadOnlyDictionary<string, string>? Adapters { get; init; }

    /// <summary>Softmax (with <see cref="SoftmaxTemperature"/>) over the classifier's expert logits.</summary>
    public bool EnableSoftmax { get; init; } = true;

    /// <summary>Softmax over the experts kept by <see cref="TopKLora"/> (the others stay 0).</summary>
    public bool EnableSoftmaxTopk { get; init; }

    /// <summary>One mixture per adapted layer (the classifier outputs experts × layers logits) instead of one for all.</summary>
    public bool LayerwiseScalings { get; init; }

    /// <summary>Linear layers of the classifier (1: one Linear; more: Linear+ReLU(+Dropout) blocks of width <see cref="XloraSize"/>, then the output Linear).</summary>
    public int XloraDepth { get; init; } = 1;

    /// <summary>The classifier's hidden width (unused at depth 1).</summary>
    public int XloraSize { get; init; } = 2048;

    /// <summary>The classifier's dropout after each hidden block (unused at depth 1).</summary>
    public double XloraDropoutP { get; init; } = 0.2;

    /// <summary>True: the experts train with the classifier.</summary>
    public bool UseTrainableAdapters { get; init; }

    /// <summary>The softmax temperature τ (the logits are divided by it).</summary>
    public double SoftmaxTemperature { get; init; } = 1.0;

    /// <summary>Keep only the k largest mixture weights per token and layer (null: all).</summary>
    public int? TopKLora { get; init; }

    /// <summary>The mixture weight every expert gets in the first (scaling) pass; 0 makes it the base model.</summary>
    public double ScalingPassValue { get; init; }

    /// <summary>A factor on every expert's output in the mixing pass.</summary>
    public double GlobalScalingWeight { get; init; } = 1.0;

    /// <summary>
    /// The engine's own field: LoRA experts created in place (named <c>0</c>, <c>1</c>, ... in files), instead of
    /// <see cref="Adapters"/>. Not written: a saved adapter names the folders its experts were saved in.
    /// </summary>
    [JsonIgnore]
    public IReadOnlyList<LoraConfig>? NewExperts { get; init; }

    /// <summary>The folder this config was read from (set when a folder is loaded), against which <see cref="Adapters"/> resolve.</summary>
    [JsonIgnore]
    public string? SourceFolder { get; init; }

    /// <inheritdoc/>
    public PeftConfig FromFolder(string folder) => this with { SourceFolder = folder };

    /// <summary>The number of experts.</summary>
    [JsonIgnore]
    public int ExpertCount => (Adapters?.Count ?? 0) + (NewExperts?.Count ?? 0);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => XLoraModelPart.Plan(context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (Adapters is { Count: > 0 } == NewExperts is { Count: > 0 })
            throw new ArgumentException("XLoraConfig: give the experts either as adapters (name → LoRA folder) or as NewExperts (LoRA configs created in place), not both or neither");
        if (HiddenSize is < 1) throw new ArgumentException($"XLoraConfig: hidden_size must be positive, got {HiddenSize}");
        // PEFT's classifier raises for a depth below 1.
        if (XloraDepth < 1) throw new ArgumentException($"XLoraConfig: xlora_depth must be at least 1, got {XloraDepth}");
        if (XloraDepth > 1 && XloraSize < 1) throw new ArgumentException($"XLoraConfig: xlora_size must be positive, got {XloraSize}");
        if (!(XloraDropoutP >= 0 && XloraDropoutP < 1)) throw new ArgumentException($"XLoraConfig: xlora_dropout_p must be in [0, 1), got {XloraDropoutP}");
        if (!(SoftmaxTemperature > 0) || double.IsInfinity(SoftmaxTemperature)) throw new ArgumentException($"XLoraConfig: softmax_temperature must be positive and finite, got {SoftmaxTemperature}");
        // PEFT only warns; a k below 1 or above the experts would keep no or every expert.
        if (TopKLora is { } k && (k < 1 || k > ExpertCount)) throw new ArgumentException($"XLoraConfig: top_k_lora must lie in [1, {ExpertCount}] (the number of experts), got {k}");
        RequireFiniteInFloat32("scaling_pass_value", ScalingPassValue);
        RequireFiniteInFloat32("global_scaling_weight", GlobalScalingWeight);
        foreach (var expert in NewExperts ?? []) expert.Validate();
    }

    /// <summary>
    /// The zoo's X-LoRA: three LoRA experts of rank size on every projection, created in place and trained jointly with
    /// the classifier (use_trainable_adapters): frozen fresh experts would add nothing (B = 0), and the names job has no
    /// trained experts to load. A depth-1 classifier, as PEFT's default.
    /// </summary>
    public static XLoraConfig Preset(AdapterPreset p) => new()
    {
        NewExperts = Enumerable.Range(0, 3).Select(_ => new LoraConfig { R = p.Size, LoraAlpha = 2 * p.Size, TargetModules = p.Linears, Seed = p.Seed }).ToList(),
        UseTrainableAdapters = true,
        Seed = p.Seed,
    };
}
