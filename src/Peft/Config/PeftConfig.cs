using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Engine.Peft;

/// <summary>
/// What every adapter method's configuration holds, with Hugging Face PEFT's field names and meaning (<c>PeftConfig</c>
/// plus the targeting fields of its tuner configs). Configurations are data: each method derives a record, registers it
/// with <see cref="PeftMethodAttribute"/>, and writes each default once as a property initialiser; the JSON of
/// <c>adapter_config.json</c> comes from the property names (snake_case, <see cref="PeftConfigJson"/>). Behaviour lives in
/// the method's layer and model part, not here.
/// </summary>
public abstract record PeftConfig
{
    /// <summary>PEFT's method name in <c>adapter_config.json</c> (<c>"LORA"</c>, ...), from the registration.</summary>
    [JsonPropertyOrder(-1)]
    public string PeftType => PeftRegistry.ByConfigType(GetType()).PeftType;

    /// <summary>
    /// Modules to adapt: names (a path equal to a name or ending in "." + name) or a regular expression matching the
    /// whole path, tried on the engine path and on the model's external (PEFT) path.
    /// </summary>
    public ModuleSelector? TargetModules { get; init; }

    /// <summary>Modules never adapted, by the same rules (PEFT's <c>exclude_modules</c>).</summary>
    public ModuleSelector? ExcludeModules { get; init; }

    /// <summary>Only layers with these indices are adapted (PEFT's <c>layers_to_transform</c>: a list or one index).</summary>
    [JsonConverter(typeof(IntListJsonConverter))]
    public IReadOnlyList<int>? LayersToTransform { get; init; }

    /// <summary>Names of the layer containers whose index <see cref="LayersToTransform"/> refers to (<c>"h"</c>, <c>"blocks"</c>).</summary>
    public ModuleSelector? LayersPattern { get; init; }

    /// <summary>Modules that stay fully trainable and are saved with the adapter (a classifier head, say).</summary>
    public IReadOnlyList<string>? ModulesToSave { get; init; }

    /// <summary>PEFT's task type (<c>"CAUSAL_LM"</c>, <c>"SEQ_CLS"</c>...), or null.</summary>
    public string? TaskType { get; init; }

    /// <summary>The base model the adapter was trained on (a path or a Hub name), or null.</summary>
    public string? BaseModelNameOrPath { get; init; }

    /// <summary>True when the adapter is loaded for inference only: its tensors stay frozen.</summary>
    public bool InferenceMode { get; init; }

    /// <summary>
    /// Seed of the adapter's random initialisation; each adapted module draws from its own generator, derived from
    /// this seed, the module path and the adapter name. Null means 0. The engine's field: not written to files.
    /// </summary>
    [JsonIgnore]
    public ulong? Seed { get; init; }

    /// <summary>Checks the values of the fields; called before an adapter is added.</summary>
    /// <exception cref="ArgumentException">A field is out of range; the message names it.</exception>
    public virtual void Validate() { }

    /// <summary>
    /// The regular expressions of this configuration with their JSON field (<c>target_modules</c>, <c>rank_pattern</c>
    /// keys...), compiled by <see cref="ValidateAll"/> so that a bad one is reported when the configuration is read.
    /// </summary>
    public virtual IEnumerable<(string Field, string Pattern)> Patterns()
    {
        if (TargetModules?.Pattern is { } t) yield return ("target_modules", t);
        if (ExcludeModules?.Pattern is { } e) yield return ("exclude_modules", e);
        if (LayersPattern?.Pattern is { } l) yield return ("layers_pattern", l);
    }

    /// <summary><see cref="Validate"/>, then every pattern of <see cref="Patterns"/> compiled.</summary>
    /// <exception cref="ArgumentException">A field is out of range or a pattern is not a regular expression; the message names it.</exception>
    /// <exception cref="NotSupportedException">A combination of fields the engine does not implement.</exception>
    public void ValidateAll()
    {
        Validate();
        foreach (var (field, pattern) in Patterns()) PatternRegex.Check(field, pattern);
    }

    /// <summary>
    /// The modules this configuration adapts among <paramref name="modules"/> (every module of the model outside adapter
    /// layers, in the model's order): by default those <see cref="TargetMatcher.IsTarget"/> accepts. A method whose
    /// targets follow another rule overrides it (adaption prompt: the last adapter_layers modules named target_modules).
    /// The result must keep its choice when given only the modules it chose (targets are filtered again after a calibration).
    /// </summary>
    public virtual IEnumerable<ModulePath> SelectTargets(IReadOnlyList<ModulePath> modules) => modules.Where(p => TargetMatcher.IsTarget(this, p));

    /// <summary>
    /// The tensors the method's model part (<see cref="PeftMethodAttribute.ModelPart"/>) will create for
    /// <paramref name="context"/>, under their file keys, computed without allocating them (none by default).
    /// </summary>
    public virtual IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => [];

    /// <summary>
    /// Throws unless <paramref name="value"/> is finite in Float32, the dtype adapters usually compute in: 1e308 is a
    /// double but makes every output of a Float32 model infinite or NaN.
    /// </summary>
    /// <exception cref="ArgumentException">The value is NaN or beyond float.MaxValue; the message names <paramref name="field"/>.</exception>
    protected void RequireFiniteInFloat32(string field, double value)
    {
        if (!(Math.Abs(value) <= float.MaxValue))
            throw new ArgumentException($"{GetType().Name}: {field} must be finite in Float32 (|value| <= {float.MaxValue:R}), got {value:R}");
    }

    /// <summary>This configuration as PEFT's <c>adapter_config.json</c> object.</summary>
    public JsonObject ToJson() => PeftConfigJson.ToJson(this);

    /// <summary>Reads an <c>adapter_config.json</c> object, finding the method by its <c>peft_type</c>.</summary>
    /// <exception cref="InvalidDataException">The type is unknown or a field has the wrong type; the message names it.</exception>
    public static PeftConfig FromJson(JsonObject json, string? source = null) => PeftConfigJson.FromJson(json, source);
}
