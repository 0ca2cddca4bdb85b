using System.Reflection;
using Module = Engine.Nn.Module;

namespace Engine.Peft;

/// <summary>One registered adapter method: its <c>peft_type</c>, configuration type, layer, model part and capabilities.</summary>
public sealed class PeftMethodInfo
{
    internal PeftMethodInfo(Type configType, PeftMethodAttribute attribute)
    {
        ConfigType = configType;
        Attribute = attribute;
        if (attribute.Layer is { } layer && !typeof(AdapterLayer).IsAssignableFrom(layer))
            throw new ArgumentException($"PeftMethod {attribute.PeftType}: layer {layer.Name} does not derive from AdapterLayer");
        if (attribute.ModelPart is { } part && !typeof(AdapterModelPart).IsAssignableFrom(part))
            throw new ArgumentException($"PeftMethod {attribute.PeftType}: model part {part.Name} does not derive from AdapterModelPart");
        if (attribute.Layer is null && attribute.ModelPart is null)
            throw new ArgumentException($"PeftMethod {attribute.PeftType}: a method needs a layer, a model part or both");
        if ((attribute.FormerKeyFragment is null) != (attribute.KeyFragment is null) || attribute.FormerKeyFragment == "" || attribute.KeyFragment == "")
            throw new ArgumentException($"PeftMethod {attribute.PeftType}: FormerKeyFragment and KeyFragment are set together, and not empty");
        var caps = AdapterCapabilities.None;
        if (attribute.Mergeable) caps |= AdapterCapabilities.Mergeable;
        if (attribute.StartsAtBase) caps |= AdapterCapabilities.StartsAtBase;
        foreach (var t in new[] { attribute.Layer, attribute.ModelPart }.OfType<Type>())
        {
            if (typeof(ISharedTensorOwner).IsAssignableFrom(t)) caps |= AdapterCapabilities.SharesTensors;
            if (typeof(IStepHook).IsAssignableFrom(t)) caps |= AdapterCapabilities.StepSchedule;
            if (typeof(ILossRegularizer).IsAssignableFrom(t)) caps |= AdapterCapabilities.LossTerm;
        }
        if (attribute.ModelPart is { } p && typeof(IInputAdapter).IsAssignableFrom(p)) caps |= AdapterCapabilities.InputSide;
        Capabilities = caps;
        Variants = attribute.Variants.Select(ParseVariant).ToList();
        ParseVariantRates();
    }

    /// <summary>The learning rate the zoo trains <paramref name="variant"/> (null: the method itself) with.</summary>
    public double ZooLearningRate(string? variant) =>
        variant is not null && _variantRates.TryGetValue(variant, out var rate) ? rate : Attribute.ZooLearningRate;

    readonly Dictionary<string, double> _variantRates = new(StringComparer.Ordinal);

    // "name: rate", for a registered variant and a positive rate: a typo fails when the registry is built.
    void ParseVariantRates()
    {
        foreach (var entry in Attribute.VariantLearningRates)
        {
            int colon = entry.IndexOf(':');
            string name = colon > 0 ? entry[..colon].Trim() : "";
            if (!Variants.Any(v => v.Name == name) || !double.TryParse(entry[(colon + 1)..].Trim(), System.Globalization.NumberStyles.Float,
                    System.Globalization.CultureInfo.InvariantCulture, out var rate) || !(rate > 0))
                throw new InvalidOperationException($"{Attribute.PeftType}: VariantLearningRates entry '{entry}' must be \"variant: rate\" for a registered variant and a positive rate");
            _variantRates[name] = rate;
        }
    }

    /// <summary>The registration as written on the config record.</summary>
    public PeftMethodAttribute Attribute { get; }

    /// <summary>PEFT's method name.</summary>
    public string PeftType => Attribute.PeftType;

    /// <summary>The configuration record.</summary>
    public Type ConfigType { get; }

    /// <summary>The layer type, or null for input-side methods.</summary>
    public Type? LayerType => Attribute.Layer;

    /// <summary>The model-level part, or null.</summary>
    public Type? ModelPartType => Attribute.ModelPart;

    /// <summary>What the method can do (declared and found from the interfaces its types implement).</summary>
    public AdapterCapabilities Capabilities { get; }

    /// <summary>
    /// The file key a method's tensor has now for key <paramref name="fileKey"/> of a file (the former key fragment
    /// replaced, <see cref="PeftMethodAttribute.FormerKeyFragment"/>); the key itself for most methods.
    /// </summary>
    public string CurrentKey(string fileKey) =>
        Attribute.FormerKeyFragment is { } former && fileKey.Contains(former, StringComparison.Ordinal)
            ? fileKey.Replace(former, Attribute.KeyFragment!, StringComparison.Ordinal) : fileKey;

    /// <summary>The command-line name.</summary>
    public string CliName => Attribute.CliName ?? PeftType.ToLowerInvariant();

    /// <summary>Named variants: a command-line name and the config fields it sets.</summary>
    public IReadOnlyList<(string Name, IReadOnlyDictionary<string, string> Fields)> Variants { get; }

    /// <summary>True when the method's layer can wrap <paramref name="module"/>.</summary>
    public bool CanWrap(Module module) => LayerType is not null && Attribute.Wraps.Any(t => t.IsInstanceOfType(module));

    /// <summary>A configuration with every default.</summary>
    public PeftConfig CreateDefaultConfig() => (PeftConfig)Activator.CreateInstance(ConfigType)!;

    /// <summary>
    /// The method's preset for a job (its <c>static Preset(AdapterPreset)</c> method), with variant
    /// <paramref name="variant"/> applied when given.
    /// </summary>
    /// <exception cref="InvalidOperationException">The config record declares no preset.</exception>
    public PeftConfig Preset(AdapterPreset preset, string? variant = null)
    {
        var method = ConfigType.GetMethod("Preset", BindingFlags.Public | BindingFlags.Static, [typeof(AdapterPreset)])
            ?? throw new InvalidOperationException($"{ConfigType.Name}: declares no `public static {ConfigType.Name} Preset(AdapterPreset)`");
        var config = (PeftConfig)method.Invoke(null, [preset])!;
        if (variant is null) return config;
        var fields = Variants.FirstOrDefault(v => v.Name == variant).Fields
            ?? throw new ArgumentException($"{PeftType}: no variant named '{variant}'; variants: [{string.Join(", ", Variants.Select(v => v.Name))}]");
        return PeftConfigJson.With(config, fields);
    }

    /// <summary>Creates the layer that wraps <paramref name="module"/>.</summary>
    internal AdapterLayer CreateLayer(Module module) =>
        (AdapterLayer)Activator.CreateInstance(LayerType ?? throw new InvalidOperationException($"{PeftType} adapts no layers"), module)!;

    /// <summary>Creates the model part of one adapter.</summary>
    internal AdapterModelPart? CreateModelPart(AdapterModelPartContext context)
    {
        if (ModelPartType is null) return null;
        // A part's constructor may refuse (X-LoRA's experts): its own exception, not reflection's wrapper, reaches the caller.
        try { return (AdapterModelPart)Activator.CreateInstance(ModelPartType, context)!; }
        catch (System.Reflection.TargetInvocationException e) when (e.InnerException is { } inner)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(inner).Throw();
            throw;
        }
    }

    static (string, IReadOnlyDictionary<string, string>) ParseVariant(string text)
    {
        int colon = text.IndexOf(':');
        if (colon <= 0) throw new ArgumentException($"PeftMethod variant '{text}' is not \"name: field=value, ...\"");
        var fields = text[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(f => f.Split('=', 2, StringSplitOptions.TrimEntries))
            .ToDictionary(f => f[0], f => f.Length == 2 ? f[1] : throw new ArgumentException($"PeftMethod variant '{text}': '{f[0]}' has no value"));
        return (text[..colon].Trim(), fields);
    }

    /// <inheritdoc/>
    public override string ToString() => PeftType;
}
