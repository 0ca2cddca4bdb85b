namespace Engine.Peft.ModuleSearch;

/// <summary>
/// DiffoRA's model-level part (the engine's reading of arXiv 2502.08905's discretisation; spec adapters-lowrank.md
/// section 3): as a step hook it discretises once <see cref="DifforaConfig.SearchSteps"/> optimiser steps have run,
/// and <see cref="Discretise"/> does it on request. It ranks the adapted modules by their gate σ(g) (ties: model
/// order), keeps the top ⌈ρ · M⌉, turns them into plain LoRA with the gate folded into B, removes every tensor of the
/// others, and records the kept modules in the adapter's config (<c>kept_modules</c>), so saving writes the kept LoRA
/// only and the file reloads to the same model. Removed tensors simply stop receiving gradients in an optimiser
/// that still lists them (it skips a parameter without a gradient).
/// </summary>
public sealed class DifforaModelPart(AdapterModelPartContext context) : AdapterModelPart(context), IStepHook
{
    /// <inheritdoc/>
    public void OnStep(int step, PeftModel model)
    {
        if (!model.PeftConfigs.TryGetValue(AdapterName, out var c) || c is not DifforaConfig { KeptModules: null, SearchSteps: { } search, InferenceMode: false }) return;
        if (step + 1 >= search) Discretise(model);
    }

    /// <summary>The adapted modules with their gate values σ(g) during the search (1 or 0 afterwards), in model order.</summary>
    public IReadOnlyList<(string Path, double Gate)> Gates(PeftModel model) =>
        Layers(model).Select(l => (l.Path.External, l.Layer.GateValue(AdapterName))).ToList();

    /// <summary>
    /// Ends the search: keeps the top ⌈ρ · M⌉ modules by σ(g) as plain LoRA (B ← σ(g) B) and drops the rest.
    /// Returns the kept modules' paths (as in the files), in model order.
    /// </summary>
    /// <exception cref="InvalidOperationException">The adapter was already discretised, or is merged somewhere.</exception>
    public IReadOnlyList<string> Discretise(PeftModel model)
    {
        var config = model.PeftConfigs[AdapterName] as DifforaConfig
            ?? throw new InvalidOperationException($"DifforaModelPart: adapter '{AdapterName}' is not a DiffoRA adapter");
        if (config.KeptModules is not null) throw new InvalidOperationException($"DifforaModelPart: adapter '{AdapterName}' was already discretised (kept_modules is set)");
        var layers = Layers(model);
        if (layers.Any(l => l.Layer.MergedAdapters.Contains(AdapterName)))
            throw new InvalidOperationException($"DifforaModelPart: adapter '{AdapterName}' is merged; unmerge it before discretising");
        int keep = config.KeptCount(layers.Count);
        var kept = layers.Select((l, i) => (i, gate: l.Layer.GateValue(AdapterName)))
            .OrderByDescending(x => x.gate).ThenBy(x => x.i).Take(keep).Select(x => x.i).ToHashSet();
        for (int i = 0; i < layers.Count; i++) layers[i].Layer.Discretise(AdapterName, kept.Contains(i));
        var names = layers.Where((_, i) => kept.Contains(i)).Select(l => l.Path.External).ToList();
        model.UpdateConfig(AdapterName, config with { KeptModules = names });
        return names;
    }

    List<(ModulePath Path, DifforaLayer Layer)> Layers(PeftModel model) => model.AdapterLayers()
        .Where(l => l.Layer is DifforaLayer d && d.AdapterNames.Contains(AdapterName))
        .Select(l => (model.PathOf(l.Path), (DifforaLayer)l.Layer)).ToList();
}
