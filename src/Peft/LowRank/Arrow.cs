namespace Engine.Peft.LowRank;

/// <summary>
/// Builds an Arrow model (PEFT's <c>create_arrow_model</c>, lora/arrow.py): loads task LoRA folders as experts
/// <c>task_0</c>, <c>task_1</c>, ... (and, for GenKnowSub, general ones as <c>gks_0</c>, ...), checks they agree, and
/// adds the router adapter <c>arrow_router</c> (a LoRA adapter with <c>arrow_config</c>, <see cref="ArrowVariant"/>)
/// on the modules they adapt, which becomes the only active adapter.
/// <code>var arrow = Arrow.CreateModel(gpt, ["experts/cola", "experts/sst2", "experts/qnli"], new ArrowConfig { TopK = 2 });</code>
/// </summary>
public static class Arrow
{
    /// <summary>The prefix of the task experts' names (PEFT's <c>TASK_ADAPTER_PREFIX</c>).</summary>
    public const string TaskPrefix = "task_";

    /// <summary>The prefix of the general adapters' names (PEFT's <c>GKS_ADAPTER_PREFIX</c>).</summary>
    public const string GeneralPrefix = "gks_";

    /// <summary>
    /// Loads <paramref name="taskFolders"/> (PEFT LoRA folders) onto <paramref name="model"/>, with
    /// <paramref name="generalFolders"/> when <paramref name="config"/> asks for GenKnowSub, and adds the router
    /// <see cref="ArrowVariant.RouterName"/> with <paramref name="config"/> (its name lists filled in), rank r of the
    /// experts, and the experts' module names as targets; the experts stay frozen and inactive.
    /// </summary>
    /// <exception cref="ArgumentException">No task folder; GenKnowSub without general folders; the adapters differ in
    /// rank, shapes or adapted modules, or are not LoRA; top_k exceeds the number of experts.</exception>
    public static PeftModel<T> CreateModel<T>(T model, IReadOnlyList<string> taskFolders, ArrowConfig config,
        IReadOnlyList<string>? generalFolders = null, IExternalModuleNames? naming = null) where T : Module
    {
        if (taskFolders is not { Count: > 0 }) throw new ArgumentException("Arrow.CreateModel: give at least one task adapter folder (task_specific_adapter_paths)");
        if (config.UseGks && generalFolders is not { Count: > 0 })
            throw new ArgumentException("Arrow.CreateModel: use_gks needs general adapter folders (general_adapter_paths) to subtract");
        if (config.TopK > taskFolders.Count)
            throw new ArgumentException($"Arrow.CreateModel: top_k = {config.TopK} exceeds the {taskFolders.Count} task adapters");
        var peft = new PeftModel<T>(model, naming);
        var tasks = taskFolders.Select((_, i) => TaskPrefix + i).ToList();
        var general = config.UseGks ? generalFolders!.Select((_, i) => GeneralPrefix + i).ToList() : [];
        for (int i = 0; i < tasks.Count; i++) peft.LoadAdapter(taskFolders[i], tasks[i]);
        for (int i = 0; i < general.Count; i++) peft.LoadAdapter(generalFolders![i], general[i]);

        var (modules, r) = CheckCompatible(peft, [.. tasks, .. general]);
        var first = (LoraConfig)peft.PeftConfigs[tasks[0]];
        var router = new LoraConfig
        {
            R = r,
            TargetModules = [.. modules],
            ArrowConfig = config with { TaskAdapterNames = tasks, GksAdapterNames = general },
            // PEFT's router config keeps LoraConfig's defaults but turns fan_in_fan_out on for GPT-2's Conv1D, as the experts have it.
            FanInFanOut = first.FanInFanOut,
            BaseModelNameOrPath = first.BaseModelNameOrPath,
        };
        peft.AddAdapter(ArrowVariant.RouterName, router);
        peft.SetAdapter(ArrowVariant.RouterName);
        return peft;
    }

    /// <summary>
    /// PEFT's <c>check_loaded_lora_compatibility_arrow</c>: every adapter is LoRA, of one rank, with the same A and B
    /// shapes on the same modules (PEFT compares one module's shapes; the engine every module's). Returns the modules'
    /// last names, sorted (the router's target_modules), and the rank.
    /// </summary>
    static (List<string> Modules, int R) CheckCompatible(PeftModel peft, IReadOnlyList<string> names)
    {
        (int R, Dictionary<string, (int[] A, int[] B)> Shapes)? reference = null;
        foreach (var name in names)
        {
            if (peft.PeftConfigs[name] is not LoraConfig { ArrowConfig: null })
                throw new ArgumentException($"Arrow.CreateModel: adapter '{name}' is not a plain LoRA adapter ({peft.PeftConfigs[name].PeftType})");
            var shapes = new Dictionary<string, (int[] A, int[] B)>(StringComparer.Ordinal);
            foreach (var (path, layer) in peft.AdapterLayers())
                if (layer is LoraLayer lora && lora.AdapterNames.Contains(name))
                    shapes[path] = (lora.LoraA(name).Shape, lora.LoraB(name).Shape);
            var ranks = shapes.Values.Select(s => s.A[0]).Distinct().ToList();
            if (ranks.Count != 1) throw new ArgumentException($"Arrow.CreateModel: [{name}] has ranks {string.Join(", ", ranks)} on different modules; the router needs one rank");
            if (reference is not { } refer)
            {
                reference = (ranks[0], shapes);
                continue;
            }
            if (ranks[0] != refer.R) throw new ArgumentException($"Arrow.CreateModel: [{name}] rank mismatch: {ranks[0]} != {refer.R}");
            if (!shapes.Keys.Order().SequenceEqual(refer.Shapes.Keys.Order()))
                throw new ArgumentException($"Arrow.CreateModel: [{name}] target_modules mismatch: this adapter -> [{string.Join(", ", shapes.Keys.Order())}], reference -> [{string.Join(", ", refer.Shapes.Keys.Order())}]");
            foreach (var (path, (a, b)) in shapes)
                if (!a.SequenceEqual(refer.Shapes[path].A) || !b.SequenceEqual(refer.Shapes[path].B))
                    throw new ArgumentException($"Arrow.CreateModel: [{name}] shape mismatch on '{path}'");
        }
        var modules = reference!.Value.Shapes.Keys.Select(p => peft.PathOf(p).External.Split('.')[^1]).Distinct().Order(StringComparer.Ordinal).ToList();
        return (modules, reference.Value.R);
    }
}
