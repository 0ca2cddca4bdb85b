namespace Engine.Peft;

/// <summary>
/// The base model's biases that train with an adapter, by PEFT's <c>bias</c> field (tuners_utils.py,
/// <c>_mark_only_adapters_as_trainable</c> and <c>_get_learnable_bias_state_dict</c>): "all" trains every bias of the
/// base model, "&lt;prefix&gt;_only" the biases of the layers the adapter wraps. They are saved with the adapter under
/// the model's keys (<c>base_model.model.transformer.h.0.ln_1.bias</c>; a wrapped layer's as
/// <c>...c_attn.base_layer.bias</c>) and loaded into the model. They are the base model's own tensors: deleting,
/// disabling or unloading the adapter keeps their trained values, as in PEFT (which warns that a disabled adapter
/// with trained biases does not give the base model's output). Only one adapter of a model may train biases.
/// </summary>
public static class TrainedBiases
{
    /// <summary>PEFT's accepted values: "none", "all", or anything ending in "_only" (PEFT does not check the prefix).</summary>
    /// <exception cref="NotSupportedException">Any other value.</exception>
    public static void Validate(string configName, string? bias)
    {
        if (bias is "none" or "all" || bias is not null && bias.EndsWith("_only", StringComparison.Ordinal) && bias.Length > "_only".Length) return;
        throw new NotSupportedException($"{configName}: bias '{bias}' is not one of 'none', 'all' or '<method>_only' (e.g. 'lora_only')");
    }

    /// <summary>True when <paramref name="config"/> trains biases.</summary>
    public static bool Trains(PeftConfig config) => config is IBiasConfig { Bias: not "none" };

    /// <summary>
    /// The biases adapter <paramref name="name"/> of <paramref name="peft"/> trains, under PEFT's file keys (live
    /// tensors, in model order); empty when <paramref name="config"/> trains none.
    /// </summary>
    public static IReadOnlyList<(string Key, Tensor Bias)> Of(PeftModel peft, string name, PeftConfig config) =>
        Collect(peft, config, (_, module) => module is AdapterLayer layer && layer.AdapterNames.Contains(name));

    /// <summary>
    /// The biases a new adapter of <paramref name="config"/> that wraps <paramref name="targets"/> (engine paths) will
    /// train, under the keys they will have once it is added (a wrapped layer's bias moves under <c>base_layer</c>).
    /// </summary>
    public static IReadOnlyList<(string Key, Tensor Bias)> Planned(PeftModel peft, PeftConfig config, IReadOnlySet<string> targets) =>
        Collect(peft, config, (path, _) => targets.Contains(path));

    // adapted(path, module): the adapter wraps (or will wrap) the layer at path.
    static List<(string Key, Tensor Bias)> Collect(PeftModel peft, PeftConfig config, Func<string, Module, bool> adapted)
    {
        if (config is not IBiasConfig { Bias: var bias and not "none" }) return [];
        bool all = bias == "all";
        var found = new List<(string, Tensor)>();
        var adapterPaths = new List<string>();
        foreach (var (path, module) in peft.Model.NamedModules())
        {
            if (adapterPaths.Any(p => path.StartsWith(p, StringComparison.Ordinal))) continue;
            var layer = module as AdapterLayer;
            // Nothing inside an adapter layer but its base layer's own bias belongs to the base model.
            if (layer is not null) adapterPaths.Add(path + ".");
            if (layer is ModulesToSaveLayer) continue;
            bool wrapped = layer is not null || adapted(path, module);
            if (!all && !adapted(path, module)) continue;
            if (OwnBias(layer?.BaseModule ?? module) is { } b)
                found.Add((AdapterFiles.KeyPrefix + peft.PathOf(path).External + (wrapped ? ".base_layer.bias" : ".bias"), b));
        }
        return found;
    }

    // The module's own parameter named "bias", not one of its sub-modules'.
    static Tensor? OwnBias(Module module) =>
        module.NamedParameters().Where(p => p.Name == "bias").Select(p => p.Parameter).FirstOrDefault();
}
