using System.Text.Json.Nodes;
using Engine.Peft.LowRank;

namespace Engine.Peft;

/// <summary>
/// What every adapter method's configuration holds, with Hugging Face PEFT's meaning (<c>PeftConfig</c> plus the
/// targeting fields of its tuner configs): which modules to adapt, which to keep fully trainable, and the
/// <see cref="PeftType"/> string written to <c>adapter_config.json</c>. Each method derives a record from this one.
/// </summary>
public abstract record PeftConfig
{
    /// <summary>PEFT's method name in <c>adapter_config.json</c> (<c>"LORA"</c>, <c>"ADALORA"</c>, ...).</summary>
    public abstract string PeftType { get; }

    /// <summary>
    /// Modules to adapt, by exact name or by suffix on a dot boundary (<c>"c_attn"</c> matches
    /// <c>transformer.h.0.attn.c_attn</c>), against the engine path or the PEFT path. Ignored when
    /// <see cref="TargetModulesRegex"/> is set.
    /// </summary>
    public IReadOnlyList<string>? TargetModules { get; init; }

    /// <summary>A regular expression that must match the whole module path (PEFT's string form of <c>target_modules</c>).</summary>
    public string? TargetModulesRegex { get; init; }

    /// <summary>Modules never adapted, by exact name or suffix (PEFT's <c>exclude_modules</c>).</summary>
    public IReadOnlyList<string>? ExcludeModules { get; init; }

    /// <summary>Only layers with these indices are adapted; the others are skipped (PEFT's <c>layers_to_transform</c>).</summary>
    public IReadOnlyList<int>? LayersToTransform { get; init; }

    /// <summary>Modules that stay fully trainable and are saved with the adapter (a classifier head, say).</summary>
    public IReadOnlyList<string>? ModulesToSave { get; init; }

    /// <summary>PEFT's task type (<c>"CAUSAL_LM"</c>, <c>"SEQ_CLS"</c>...), or null.</summary>
    public string? TaskType { get; init; }

    /// <summary>The base model the adapter was trained on (a path or a Hub name), or null.</summary>
    public string? BaseModelNameOrPath { get; init; }

    /// <summary>True when the adapter is loaded for inference only: its tensors stay frozen.</summary>
    public bool InferenceMode { get; init; }

    /// <summary>
    /// False for input-side methods (prefix tuning) that adapt no layer: they keep their state on the
    /// <see cref="PeftModel"/> (<see cref="OnAdapterAdded"/>) instead.
    /// </summary>
    public virtual bool TargetsLayers => true;

    /// <summary>
    /// Runs the model with adapter <paramref name="adapterName"/> when the method changes the inputs (prefix tuning
    /// starts the KV cache with its virtual tokens); null leaves the plain forward to the adapted layers.
    /// </summary>
    public virtual Tensor? Forward(PeftModel model, string adapterName, Tensor input) => null;

    /// <summary>Wraps a target layer in this method's adapter layer (still without any adapter).</summary>
    public abstract AdapterLayer CreateLayer(Linear baseLayer);

    /// <summary>
    /// Called once the adapter's layers exist: methods with model-level state register it here (AdaLoRA's budget
    /// allocator as a step hook, shared tensors).
    /// </summary>
    public virtual void OnAdapterAdded(PeftModel model, string adapterName) { }

    /// <summary>
    /// The configuration and tensors to write for adapter <paramref name="adapterName"/>; methods that store a
    /// reduced form (AdaLoRA keeps only the unmasked triplets) override this.
    /// </summary>
    public virtual (PeftConfig Config, Dictionary<string, Tensor> Tensors) ForSaving(PeftModel model, string adapterName, Dictionary<string, Tensor> tensors) => (this, tensors);

    /// <summary>
    /// Tensors of adapter <paramref name="adapterName"/> stored once on the model rather than per layer, with their
    /// full keys in PEFT's files (VeRA: <c>base_model.vera_A</c>). Written when <see cref="SavesSharedTensors"/>.
    /// </summary>
    public virtual IEnumerable<(string Key, Tensor Tensor)> SharedTensors(PeftModel model, string adapterName) => [];

    /// <summary>True when the shared tensors go into the adapter file (VeRA's <c>save_projection</c>).</summary>
    public virtual bool SavesSharedTensors => true;

    /// <summary>This configuration as PEFT's <c>adapter_config.json</c> object.</summary>
    public virtual JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["peft_type"] = PeftType,
            ["task_type"] = TaskType,
            ["base_model_name_or_path"] = BaseModelNameOrPath,
            ["inference_mode"] = InferenceMode,
            ["target_modules"] = TargetModulesRegex is not null ? JsonValue.Create(TargetModulesRegex) : StringArray(TargetModules),
            ["exclude_modules"] = StringArray(ExcludeModules),
            ["layers_to_transform"] = LayersToTransform is null ? null : new JsonArray(LayersToTransform.Select(i => (JsonNode?)i).ToArray()),
            ["modules_to_save"] = StringArray(ModulesToSave),
        };
        return json;
    }

    /// <summary>Reads the fields shared by every method from a PEFT config object into <paramref name="config"/>.</summary>
    protected static T ReadCommon<T>(T config, JsonObject json) where T : PeftConfig
    {
        var targets = json["target_modules"];
        return config with
        {
            TaskType = json["task_type"]?.GetValue<string>(),
            BaseModelNameOrPath = json["base_model_name_or_path"]?.GetValue<string>(),
            InferenceMode = json["inference_mode"]?.GetValue<bool>() ?? false,
            TargetModules = targets is JsonArray ? Strings(targets) : null,
            TargetModulesRegex = targets is JsonValue v ? v.GetValue<string>() : null,
            ExcludeModules = json["exclude_modules"] is JsonArray ? Strings(json["exclude_modules"]) : null,
            LayersToTransform = json["layers_to_transform"] switch
            {
                JsonArray a => a.Select(n => n!.GetValue<int>()).ToList(),
                JsonValue one => [one.GetValue<int>()],
                _ => null,
            },
            ModulesToSave = Strings(json["modules_to_save"]),
        };
    }

    static JsonArray? StringArray(IReadOnlyList<string>? items) => items is null ? null : new JsonArray(items.Select(s => (JsonNode?)s).ToArray());

    /// <summary>A JSON string array as a list (null for a missing or null field).</summary>
    protected static List<string>? Strings(JsonNode? node) => node is JsonArray a ? a.Select(n => n!.GetValue<string>()).ToList() : null;

    static readonly Dictionary<string, Func<JsonObject, PeftConfig>> Readers = new(StringComparer.Ordinal)
    {
        ["LORA"] = LoraConfig.FromJson,
        ["ADALORA"] = AdaLoraConfig.FromJson,
        ["VERA"] = RandomBasis.VeraConfig.FromJson,
        ["IA3"] = Scaling.Ia3Config.FromJson,
        ["BOTTLENECK"] = Inserted.BottleneckConfig.FromJson,
        ["PREFIX_TUNING"] = Prompt.PrefixTuningConfig.FromJson,
        ["PROMPT_TUNING"] = Prompt.PromptTuningConfig.FromJson,
    };

    /// <summary>Registers the reader of a method's <c>adapter_config.json</c> under its <paramref name="peftType"/>.</summary>
    public static void RegisterType(string peftType, Func<JsonObject, PeftConfig> reader) => Readers[peftType] = reader;

    /// <summary>Reads an <c>adapter_config.json</c> object, dispatching on its <c>peft_type</c>.</summary>
    /// <exception cref="InvalidDataException">The type is missing or not one the engine implements.</exception>
    public static PeftConfig FromJson(JsonObject json)
    {
        var type = json["peft_type"]?.GetValue<string>() ?? throw new InvalidDataException("PeftConfig: adapter_config.json has no peft_type");
        if (!Readers.TryGetValue(type, out var read))
            throw new InvalidDataException($"PeftConfig: peft_type '{type}' is not implemented; known types: {string.Join(", ", Readers.Keys)}");
        return read(json);
    }
}
