namespace Engine.Peft;

/// <summary>
/// Registers an adapter method: put it on the method's configuration record, once. The registry
/// (<see cref="PeftRegistry"/>) finds every such record, so loading a folder finds the method by its
/// <c>peft_type</c>, the CLI and the zoo list it, and the law tests cover it.
/// <code>[PeftMethod("LORA", Layer = typeof(LoraLayer), Mergeable = true, StartsAtBase = true)]
/// public sealed record LoraConfig : PeftConfig { ... }</code>
/// </summary>
/// <param name="peftType">PEFT's method name in <c>adapter_config.json</c> (<c>"LORA"</c>), or the engine's own name for methods PEFT lacks.</param>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class PeftMethodAttribute(string peftType) : Attribute
{
    /// <summary>PEFT's method name (<c>peft_type</c>).</summary>
    public string PeftType { get; } = peftType;

    /// <summary>
    /// The <see cref="AdapterLayer"/> that wraps each targeted module (constructed with the module), or null for
    /// methods that adapt the model's inputs only (prompt and prefix tuning).
    /// </summary>
    public Type? Layer { get; init; }

    /// <summary>
    /// The model-level part of the method (a <see cref="AdapterModelPart"/>: shared tensors, step hooks, loss terms,
    /// input-side forward), constructed once per adapter with an <see cref="AdapterModelPartContext"/>; null when
    /// the layers are all there is.
    /// </summary>
    public Type? ModelPart { get; init; }

    /// <summary>The module kinds the layer can wrap (<see cref="Linear"/> by default).</summary>
    public Type[] Wraps { get; init; } = [typeof(Linear)];

    /// <summary>True when the adapter can be folded into the base weights (merge, unmerge, merge-and-unload).</summary>
    public bool Mergeable { get; init; }

    /// <summary>True when the adapted model equals the base model at initialisation (a law the tests check).</summary>
    public bool StartsAtBase { get; init; }

    /// <summary>True for methods Hugging Face PEFT ships: their files must use PEFT's keys exactly.</summary>
    public bool InPeft { get; init; } = true;

    /// <summary>Name on the command line (<c>engine finetune --adapter NAME</c>); the lower-case peft_type by default.</summary>
    public string? CliName { get; init; }

    /// <summary>
    /// Named variants for the command line and the zoo, each <c>"name: field=value, field=value"</c> in the config's
    /// JSON field names (<c>"dora: use_dora=true"</c>).
    /// </summary>
    public string[] Variants { get; init; } = [];

    /// <summary>
    /// The peft_type PEFT gave this method before renaming it (<c>"BONE"</c> for MiSS), or null: a folder with the
    /// former type loads as this method, and saving writes <see cref="PeftType"/>, as PEFT's conversion script does.
    /// </summary>
    public string? FormerPeftType { get; init; }

    /// <summary>
    /// The key fragment the method's tensors had under its former name (<c>".bone_"</c>), or null: a file key holding
    /// it is read as if it held <see cref="KeyFragment"/> instead (set both or neither).
    /// </summary>
    public string? FormerKeyFragment { get; init; }

    /// <summary>The key fragment that replaces <see cref="FormerKeyFragment"/> (<c>".miss_"</c>).</summary>
    public string? KeyFragment { get; init; }

    /// <summary>The learning rate the zoo trains this method with (tuned on the names job).</summary>
    public double ZooLearningRate { get; init; } = 1e-2;

    /// <summary>
    /// Variants whose tuned rate differs from <see cref="ZooLearningRate"/>, each <c>"name: rate"</c> (<c>"corda: 1e-3"</c>:
    /// CorDA's covariance-weighted factors diverge at LoRA's rate).
    /// </summary>
    public string[] VariantLearningRates { get; init; } = [];
}
