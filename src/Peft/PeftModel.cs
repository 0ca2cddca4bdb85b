namespace Engine.Peft;

/// <summary>
/// A model with named adapters (Hugging Face PEFT's <c>PeftModel</c>): targeted modules are wrapped in
/// <see cref="AdapterLayer"/>s inside <see cref="Model"/>, each adapter's model-level part (shared tensors, schedules,
/// virtual tokens) lives under <c>adapter_parts</c>, the base is frozen, and the adapters can be switched, disabled,
/// merged, combined, deleted, saved and loaded. The methods come from <see cref="PeftRegistry"/>; nothing here knows
/// a method or a concrete model type. Created by <see cref="Peft.Apply"/>.
/// <code>
/// var peft = Peft.Apply(gpt, new LoraConfig { R = 8, TargetModules = ["c_attn"] });
/// peft.PrintTrainableParameters();
/// var logits = peft.Forward(ids);
/// peft.SavePretrained("adapters/names");
/// </code>
/// </summary>
public class PeftModel : Module, ITrainingHooks
{
    readonly Dictionary<string, PeftConfig> _configs = new();
    readonly List<string> _order = new();
    readonly List<IStepHook> _hooks = new();
    List<string> _active = new();
    bool _unloaded, _disabled;

    /// <summary>
    /// Wraps <paramref name="model"/> without any adapter yet; <paramref name="naming"/> defaults to the model's own
    /// external names (<see cref="IExternalModuleNames"/>), else its engine paths.
    /// </summary>
    public PeftModel(Module model, IExternalModuleNames? naming = null)
    {
        RegisterModule("base_model", model);
        RegisterModule("adapter_parts", new ModuleDict<AdapterModelPart>());
        Naming = naming ?? model as IExternalModuleNames;
        if (!model.Training) Eval();
    }

    /// <summary>The adapted model (its targeted modules are now adapter layers).</summary>
    public Module Model => Child("base_model");

    /// <summary>How engine module paths map to the external paths of PEFT's files, or null when they are the same.</summary>
    public IExternalModuleNames? Naming { get; }

    /// <summary>The model parts by adapter name (only adapters whose method has one).</summary>
    public ModuleDict<AdapterModelPart> ModelParts => (ModuleDict<AdapterModelPart>)Child("adapter_parts");

    /// <summary>Configurations by adapter name (PEFT's <c>peft_config</c>).</summary>
    public IReadOnlyDictionary<string, PeftConfig> PeftConfigs => _configs;

    /// <summary>Adapter names in the order they were added.</summary>
    public IReadOnlyList<string> AdapterNames => _order;

    /// <summary>The adapters that currently contribute.</summary>
    public IReadOnlyList<string> ActiveAdapters => _active;

    /// <summary>Hooks added with <see cref="AddStepHook"/>.</summary>
    public IReadOnlyList<IStepHook> StepHooks => _hooks;

    /// <summary>The model part of adapter <paramref name="name"/>, or null when its method has none.</summary>
    public AdapterModelPart? ModelPart(string name) => ModelParts.Keys.Contains(name) ? ModelParts[name] : null;

    /// <summary>The first active input-side adapter (prompt or prefix tuning), or null.</summary>
    public IInputAdapter? ActiveInputAdapter => _disabled ? null : _active.Select(ModelPart).OfType<IInputAdapter>().FirstOrDefault();

    /// <summary>
    /// Runs the adapted model on one input (through the active input-side adapter when there is one), inside a
    /// <see cref="TokenScope"/> of the input.
    /// </summary>
    public override Tensor Forward(Tensor input)
    {
        using var _ = TokenScope(input);
        return ActiveInputAdapter is { } a ? a.Forward(this, input) : Model.Forward(input);
    }

    /// <summary>
    /// A scope in which the active adapters that read token ids (<see cref="ITokenIdsReader"/>: aLoRA's invocation
    /// offsets) have read <paramref name="ids"/> [B, T]. <see cref="Forward"/> opens one for its input; what an outer
    /// scope read stays in force inside it. Generation with a KV cache runs the model itself, so open one with the
    /// prompt around <c>Sampling.Generate</c>: every decode step then sees the prompt's offsets, as in PEFT's <c>generate</c>.
    /// <code>using (peft.TokenScope(prompt)) tokens = Sampling.Generate(peft.Model, prompt, 20, options);</code>
    /// </summary>
    public IDisposable TokenScope(Tensor ids)
    {
        var opened = _disabled ? [] : _active.Select(ModelPart).OfType<ITokenIdsReader>().Select(r => r.ReadTokens(this, ids)).OfType<IDisposable>().ToList();
        return new Scope(() =>
        {
            for (int i = opened.Count - 1; i >= 0; i--) opened[i].Dispose();
        });
    }

    /// <summary>
    /// A scope in which every forward pass (a training step, a cached generation) routes example i by task
    /// <paramref name="taskIds"/>[i]: PEFT's <c>task_ids</c> for task-routed methods (Poly, multitask prompt tuning;
    /// <see cref="TaskIds"/>). Other methods ignore it.
    /// <code>using (peft.TaskScope([0, 1])) loss = Losses.CrossEntropy(peft.Forward(x), y);</code>
    /// </summary>
    /// <exception cref="ArgumentException">No ids, or a negative one.</exception>
    public IDisposable TaskScope(IReadOnlyList<int> taskIds) => TaskIds.Begin(taskIds);

    /// <summary>A scope in which every example, whatever the batch size, has task <paramref name="taskId"/> (<see cref="TaskIds"/>).</summary>
    /// <exception cref="ArgumentException"><paramref name="taskId"/> is negative.</exception>
    public IDisposable TaskScope(int taskId) => TaskIds.Begin(taskId);

    /// <summary>
    /// <see cref="Forward(Tensor)"/> with example i of <paramref name="input"/> routed by task <paramref name="taskIds"/>[i]
    /// (PEFT's <c>model(input_ids, task_ids=...)</c>).
    /// </summary>
    public Tensor ForwardForTasks(Tensor input, IReadOnlyList<int> taskIds)
    {
        using var _ = TaskScope(taskIds);
        return Forward(input);
    }

    /// <summary>The module path of <paramref name="enginePath"/> under both names.</summary>
    public ModulePath PathOf(string enginePath) => new(enginePath, Naming?.ExternalPath(enginePath) ?? enginePath);

    /// <summary>
    /// The wrapped model's own parameters and buffers under the names they have without adapters (each adapter layer's
    /// <c>base_layer</c> taken back to its place, the adapters' tensors left out): the same tensors, not copies, for
    /// saving a base that training changed (Relaxed Recursive Transformers' uptrained shared weights).
    /// </summary>
    public Dictionary<string, Tensor> BaseStateDict()
    {
        var wrappers = AdapterLayers().Select(l => l.Path).OrderByDescending(p => p.Length).ToList();
        var state = new Dictionary<string, Tensor>();
        foreach (var (name, tensor) in Model.StateDict())
        {
            string n = name;
            bool adapterOwned = false;
            foreach (var path in wrappers)
            {
                string prefix = path.Length == 0 ? "" : path + ".";
                if (!n.StartsWith(prefix, StringComparison.Ordinal)) continue;
                if (n.StartsWith(prefix + "base_layer.", StringComparison.Ordinal)) n = prefix + n[(prefix.Length + "base_layer.".Length)..];
                else adapterOwned = true;
                break;
            }
            if (!adapterOwned) state.TryAdd(n, tensor);
        }
        return state;
    }

    /// <summary>Every adapter layer with its engine path.</summary>
    public IEnumerable<(string Path, AdapterLayer Layer)> AdapterLayers() =>
        Model.NamedModules().Where(m => m.Module is AdapterLayer).Select(m => (m.Name, (AdapterLayer)m.Module)).ToList();

    /// <summary>
    /// Adds adapter <paramref name="name"/> on every module <paramref name="config"/> targets that its method can wrap,
    /// wrapping plain modules and extending layers of the same method. The first adapter becomes active; later ones
    /// are inactive until <see cref="SetAdapter"/>. All or nothing: on any error the model is left as it was.
    /// </summary>
    /// <exception cref="ArgumentException">The name is taken or invalid, a field is out of range, or no module matches.</exception>
    /// <exception cref="NotSupportedException">A target already holds adapters of another method.</exception>
    public void AddAdapter(string name, PeftConfig config) => AddAdapter(name, config, fromFile: false);

    /// <summary>
    /// As <see cref="AddAdapter(string, PeftConfig)"/>, for a configuration whose initialisation runs the model on data
    /// first (<see cref="ICalibratedConfig"/>: EVA, CorDA, LoRA-GA): <paramref name="calibration"/> is run before any
    /// target is wrapped. Configurations that need no data ignore it.
    /// </summary>
    /// <exception cref="ArgumentException">As <see cref="AddAdapter(string, PeftConfig)"/>, or the configuration needs data and <paramref name="calibration"/> is null.</exception>
    /// <exception cref="NotSupportedException">As <see cref="AddAdapter(string, PeftConfig)"/>.</exception>
    public void AddAdapter(string name, PeftConfig config, CalibrationData? calibration) => AddAdapter(name, config, fromFile: false, calibration: calibration);

    /// <summary>
    /// The tensors <see cref="AddAdapter(string, PeftConfig)"/> would create for adapter <paramref name="name"/>, under
    /// their file keys (<see cref="NamedAdapterTensors"/>) with their shapes, computed from the configuration and the
    /// model without allocating or attaching anything: what a file must hold, checked before loading it.
    /// </summary>
    /// <exception cref="ArgumentException">As <see cref="AddAdapter(string, PeftConfig)"/>.</exception>
    /// <exception cref="NotSupportedException">As <see cref="AddAdapter(string, PeftConfig)"/>.</exception>
    /// <param name="name">The adapter's name.</param>
    /// <param name="config">Its configuration.</param>
    /// <param name="fromFile">True when a file's tensors will replace the initial ones.</param>
    /// <param name="fileShapes">The shapes in the file being loaded by full key (<see cref="AdapterContext.FileShapes"/>), for
    /// methods whose per-layer sizes only the file records; null when no file is loaded.</param>
    /// <param name="calibration">For a fresh adapter whose initialisation runs on data (<see cref="ICalibratedConfig"/>):
    /// the data, run here (the model is unchanged afterwards) because it may decide the shapes (EVA's ranks).</param>
    public IReadOnlyList<PlannedTensor> PlanAdapter(string name, PeftConfig config, bool fromFile = true, IReadOnlyDictionary<string, int[]>? fileShapes = null,
        CalibrationData? calibration = null)
    {
        var (method, targets) = CheckAdd(name, config);
        // Planning a load needs no data (the file's shapes do not depend on it); the data runs when the adapter is added.
        if (!fromFile) (config, _) = Calibrated(name, config, fromFile, targets, calibration);
        targets = StillTargeted(config, targets);
        var plan = new List<PlannedTensor>();
        // A plain module is wrapped by a throwaway layer that is never attached (wrapping does not change the module).
        foreach (var (path, module, _, _) in targets)
        {
            var layer = module as AdapterLayer ?? method.CreateLayer(module);
            plan.AddRange(layer.PlanAdapter(new AdapterContext(name, config, path, this, null, fromFile, fileShapes)).Select(t => t with { Key = FileKey(path, t.Key) }));
        }
        foreach (var (path, module, _, _) in FindModulesToSave(config))
        {
            var layer = module as ModulesToSaveLayer ?? new ModulesToSaveLayer(module);
            plan.AddRange(layer.PlanAdapter(new AdapterContext(name, config, path, this, null)).Select(t => t with { Key = FileKey(path, t.Key) }));
        }
        // PEFT loads a file's biases with strict=False: a file without one keeps the model's.
        var targetPaths = targets.Select(t => t.Path.Engine).ToHashSet(StringComparer.Ordinal);
        plan.AddRange(TrainedBiases.Planned(this, config, targetPaths).Select(b => new PlannedTensor(b.Key, b.Bias.Shape) { RecomputedIfMissing = true }));
        plan.AddRange(config.PlanModelPart(new AdapterModelPartContext(this, name, config, targets.Select(t => (t.Path, t.Module)).ToList(), fromFile)));
        return plan;
    }

    static string FileKey(ModulePath path, string suffix) => AdapterFiles.KeyPrefix + path.External + "." + suffix;

    (PeftMethodInfo Method, List<(ModulePath Path, Module Module, Module Parent, string Member)> Targets) CheckAdd(string name, PeftConfig config)
    {
        CheckUsable();
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"PeftModel.AddAdapter: '{name}' is not a valid adapter name (non-empty, no dots)");
        if (_configs.ContainsKey(name)) throw new ArgumentException($"PeftModel.AddAdapter: an adapter named '{name}' already exists");
        config.ValidateAll();
        var method = PeftRegistry.ByConfigType(config.GetType());
        return (method, method.LayerType is null ? [] : FindTargets(name, config, method));
    }

    /// <summary>As <see cref="AddAdapter(string, PeftConfig)"/>; <paramref name="fromFile"/> when a file's tensors will replace the initial ones.</summary>
    internal void AddAdapter(string name, PeftConfig config, bool fromFile, IReadOnlyDictionary<string, int[]>? fileShapes = null, CalibrationData? calibration = null)
    {
        var (method, targets) = CheckAdd(name, config);
        // PEFT's _check_new_adapter_config: the biases are the base model's, so only one adapter may train them.
        if (TrainedBiases.Trains(config) && _configs.FirstOrDefault(c => TrainedBiases.Trains(c.Value)) is { Key: { } other })
            throw new ArgumentException($"PeftModel.AddAdapter: adapter '{other}' already trains biases; only one adapter may have bias other than 'none', so '{name}' must use bias 'none'");
        (config, var calibrated) = Calibrated(name, config, fromFile, targets, calibration);
        targets = StillTargeted(config, targets);

        var part = method.CreateModelPart(new AdapterModelPartContext(this, name, config, targets.Select(t => (t.Path, t.Module)).ToList(), fromFile));
        var added = new List<(string Path, AdapterLayer Layer, Module? Replaced)>();
        try
        {
            if (part is not null) ModelParts.Add(name, part);
            foreach (var (path, module, parent, member) in targets)
            {
                AdapterLayer layer;
                Module? replaced = null;
                if (module is AdapterLayer existing) layer = existing;
                else
                {
                    layer = method.CreateLayer(module);
                    layer.Train(module.Training);
                    parent.ReplaceModule(member, layer);
                    replaced = module;
                }
                added.Add((path.Engine, layer, replaced));
                layer.AddAdapter(new AdapterContext(name, config, path, this, part, fromFile, fileShapes, calibrated?.GetValueOrDefault(path.Engine)));
            }
            // modules_to_save: each adapter trains its own copy, so the original module never changes (as PEFT).
            foreach (var (path, module, parent, member) in FindModulesToSave(config))
            {
                var layer = module as ModulesToSaveLayer ?? new ModulesToSaveLayer(module);
                Module? replaced = null;
                if (!ReferenceEquals(layer, module))
                {
                    layer.Train(module.Training);
                    parent.ReplaceModule(member, layer);
                    replaced = module;
                }
                added.Add((path.Engine, layer, replaced));
                layer.AddAdapter(new AdapterContext(name, config, path, this, part, fromFile, fileShapes));
            }
            _configs[name] = config;
            _order.Add(name);
            // Adapters the new one owns (X-LoRA's experts, added while its part was built) do not count as active.
            if (_active.Count == 0 || _active.All(Owned(name).Contains)) _active = [name];
            part?.OnLayersCreated(this);
        }
        catch
        {
            // Undo in reverse: adapters out of the layers, original modules back, the part and the name gone.
            for (int i = added.Count - 1; i >= 0; i--)
            {
                var (path, layer, replaced) = added[i];
                if (layer.AdapterNames.Contains(name)) layer.DeleteAdapter(name);
                if (replaced is not null) Replace(path, replaced);
            }
            var owned = part is IAdapterOwner ? Owned(name) : [];
            if (part is not null) RemovePart(name);
            foreach (var o in owned) if (_configs.ContainsKey(o)) DeleteAdapter(o);
            _configs.Remove(name);
            _order.Remove(name);
            _active.Remove(name);
            throw;
        }
        ApplyActive();
    }

    // A fresh adapter of a calibrated configuration runs the data once, before any target is wrapped; a file holds the
    // initialised tensors and needs none, unless the initialisation changed the base weight (ICalibratedConfig.LoadNeed:
    // CorDA, LoRA-GA), whose data then runs again on the original base and the file's configuration stays.
    (PeftConfig Config, IReadOnlyDictionary<string, object>? PerTarget) Calibrated(string name, PeftConfig config, bool fromFile,
        List<(ModulePath Path, Module Module, Module Parent, string Member)> targets, CalibrationData? calibration)
    {
        if (config is not ICalibratedConfig { CalibrationNeed: { } need } calibrated) return (config, null);
        if (fromFile)
        {
            if (calibrated.LoadNeed is not { } loadNeed) return (config, null);
            RequireLoadData(name, config, calibration);
            calibration!.Validate($"PeftModel.LoadAdapter ('{name}', {loadNeed})");
            return (config, calibrated.Calibrate(new CalibrationContext(this, name, targets.Select(t => (t.Path, t.Module)).ToList(), calibration)).PerTarget);
        }
        if (calibration is null)
            throw new ArgumentException($"PeftModel.AddAdapter: adapter '{name}' has {need}, which initialises from data: pass a CalibrationData to Peft.Apply or AddAdapter");
        calibration.Validate($"PeftModel.AddAdapter ('{name}', {need})");
        var result = calibrated.Calibrate(new CalibrationContext(this, name, targets.Select(t => (t.Path, t.Module)).ToList(), calibration));
        result.Config.ValidateAll();
        return (result.Config, result.PerTarget);
    }

    /// <summary>
    /// The targets of <paramref name="config"/> in the model as it is now, plain or already wrapped, with the in and out
    /// features of their <see cref="Linear"/> (for methods that share a budget over all targets: WaveFT's
    /// proportional_parameters).
    /// </summary>
    internal List<(string Path, int InFeatures, int OutFeatures)> TargetShapes(PeftConfig config)
    {
        var found = new List<(string, int, int)>();
        foreach (var (path, module, _, _) in Candidates())
            if (TargetMatcher.IsTarget(config, path) && (module is AdapterLayer layer ? layer.BaseModule : module) is Linear linear)
                found.Add((path.Engine, linear.InFeatures, linear.OutFeatures));
        return found;
    }
    // A calibration may drop targets (EVA removes those it gives rank 0, rewriting target_modules as PEFT does).
    static List<(ModulePath Path, Module Module, Module Parent, string Member)> StillTargeted(PeftConfig config,
        List<(ModulePath Path, Module Module, Module Parent, string Member)> targets) => Selected(config, targets);

    // The candidates the configuration's rule chooses (PeftConfig.SelectTargets), in their order.
    static List<(ModulePath Path, Module Module, Module Parent, string Member)> Selected(PeftConfig config,
        List<(ModulePath Path, Module Module, Module Parent, string Member)> candidates)
    {
        var chosen = config.SelectTargets(candidates.Select(c => c.Path).ToList()).ToHashSet();
        return candidates.Where(c => chosen.Contains(c.Path)).ToList();
    }

    /// <summary>
    /// True when a file of adapter <paramref name="name"/> as it stands would need its calibration data to load (CorDA,
    /// LoRA-GA: <see cref="ICalibratedConfig.LoadNeed"/>); saving with <c>convertToLora</c> writes one that loads alone.
    /// </summary>
    public bool NeedsDataToLoad(string name) => _configs.TryGetValue(name, out var c) && c is ICalibratedConfig { LoadNeed: not null };

    /// <summary>Refuses to load a file of <paramref name="config"/> without data when its initialisation moved a data-driven part of the base weight (<see cref="ICalibratedConfig.LoadNeed"/>).</summary>
    internal static void RequireLoadData(string name, PeftConfig config, CalibrationData? calibration)
    {
        if (calibration is null && config is ICalibratedConfig { LoadNeed: { } loadNeed })
            throw new NotSupportedException($"PeftModel.LoadAdapter: adapter '{name}' has {loadNeed}: its file holds the adapter trained on the residual base weight, which only the data it was initialised with gives back; " +
                "pass that CalibrationData to LoadAdapter or Peft.FromPretrained (as PEFT runs its preprocessing before loading), or save the adapter with convertToLora (PEFT's path_initial_model_for_weight_conversion)");
    }

    // Every module of the model outside adapter layers (nothing inside one — its base layer, its own sub-modules — can
    // be adapted again), with its path and where it is registered.
    List<(ModulePath Path, Module Module, Module Parent, string Member)> Candidates()
    {
        var modules = Model.NamedModules().ToList();
        var byPath = modules.ToDictionary(m => m.Name, m => m.Module);
        var adapterPaths = modules.Where(m => m.Module is AdapterLayer).Select(m => m.Name + ".").ToList();
        var found = new List<(ModulePath, Module, Module, string)>();
        foreach (var (path, module) in modules)
        {
            if (path.Length == 0 || adapterPaths.Any(p => path.StartsWith(p, StringComparison.Ordinal))) continue;
            int dot = path.LastIndexOf('.');
            found.Add((PathOf(path), module, dot < 0 ? Model : byPath[path[..dot]], dot < 0 ? path : path[(dot + 1)..]));
        }
        return found;
    }

    List<(ModulePath Path, Module Module, Module Parent, string Member)> FindTargets(string name, PeftConfig config, PeftMethodInfo method)
    {
        // A tied head (GPT-2's lm_head) is no module until a configuration targets it: then the model shows it as a
        // Linear sharing the embedding's weight, and the method wraps it as PEFT does.
        if (Model is ITiedHeadModel { TiedHeadPath: { } head } tied && method.Attribute.Wraps.Contains(typeof(Linear)) && TargetMatcher.IsTarget(config, PathOf(head)))
            tied.ShowTiedHead();
        var candidates = Candidates();
        var targets = Selected(config, candidates);
        foreach (var (where, module, _, _) in targets)
            if (module is AdapterLayer existing && !existing.Accepts(config))
                throw new NotSupportedException($"PeftModel.AddAdapter: '{where.External}' already holds {existing.GetType().Name} adapters; mixing methods on one layer is not supported");
        targets = targets.Where(t => t.Module is AdapterLayer || method.CanWrap(t.Module)).ToList();
        if (targets.Count == 0)
        {
            var wrappable = candidates.Where(c => method.CanWrap(c.Module)).Select(c => c.Path.External).Take(8);
            throw new ArgumentException($"PeftModel.AddAdapter: no module matches the targets of adapter '{name}' ({method.PeftType}, target_modules {config.TargetModules?.ToString() ?? "none"}); " +
                $"{string.Join("/", method.Attribute.Wraps.Select(t => t.Name))} modules include: {string.Join(", ", wrappable)}");
        }
        return targets;
    }

    List<(ModulePath Path, Module Module, Module Parent, string Member)> FindModulesToSave(PeftConfig config)
    {
        if (config.ModulesToSave is not { Count: > 0 } names) return [];
        var found = Candidates().Where(c => c.Path.Names.Any(n => TargetMatcher.MatchesName(names, n))).ToList();
        foreach (var (where, module, _, _) in found)
            if (module is AdapterLayer and not ModulesToSaveLayer)
                throw new NotSupportedException($"PeftModel.AddAdapter: '{where.External}' is both adapted and in modules_to_save");
        if (found.Count == 0) throw new ArgumentException($"PeftModel.AddAdapter: no module matches modules_to_save [{string.Join(", ", names)}]");
        return found;
    }

    /// <summary>Replaces the stored configuration of adapter <paramref name="name"/> (a schedule that fixes its rank pattern, say).</summary>
    public void UpdateConfig(string name, PeftConfig config)
    {
        if (!_configs.ContainsKey(name)) throw new KeyNotFoundException($"PeftModel.UpdateConfig: no adapter named '{name}'");
        _configs[name] = config;
    }

    /// <summary>Makes <paramref name="names"/> the active adapters; only their tensors train (PEFT's <c>set_adapter</c>).</summary>
    /// <exception cref="KeyNotFoundException">A name is not an adapter of this model.</exception>
    public void SetAdapter(params string[] names)
    {
        CheckUsable();
        foreach (var n in names)
            if (!_configs.ContainsKey(n)) throw new KeyNotFoundException($"PeftModel.SetAdapter: no adapter named '{n}'; adapters: [{string.Join(", ", _order)}]");
        _active = names.Distinct().ToList();
        ApplyActive();
    }

    /// <summary>The adapters adapter <paramref name="name"/> owns (<see cref="IAdapterOwner"/>: X-LoRA's experts), or none.</summary>
    public IReadOnlyList<string> Owned(string name) =>
        ModelPart(name) is IAdapterOwner owner ? owner.OwnedAdapters.Select(o => o.Adapter).ToList() : [];

    void ApplyActive()
    {
        // Owned adapters contribute in the layers while their owner is active.
        var inLayers = _active.Concat(_active.SelectMany(Owned)).Distinct().ToList();
        foreach (var (_, layer) in AdapterLayers()) layer.SetActive(inLayers);
        bool Trains(string adapter) => (_active.Contains(adapter) && _configs.TryGetValue(adapter, out var c) && !c.InferenceMode)
            || _active.Any(o => Owned(o).Contains(adapter) && ModelPart(o) is IAdapterOwner { OwnedAdaptersTrain: true } && !_configs[o].InferenceMode);
        // Freeze the base; adapter tensors (modules_to_save copies included) train while their adapter is active.
        foreach (var p in Model.Parameters()) p.RequiresGrad = false;
        foreach (var (_, layer) in AdapterLayers())
            foreach (var name in layer.AdapterNames)
                foreach (var t in layer.AdapterTensors(name)) t.Tensor.RequiresGrad = t.Trainable && Trains(name);
        foreach (var name in ModelParts.Keys) ModelParts[name].RequiresGrad(Trains(name));
        // Biases of the base model that an adapter's bias field trains (PEFT's bias = "all" / "lora_only").
        foreach (var (name, config) in _configs)
            if (Trains(name)) foreach (var (_, bias) in TrainedBiases.Of(this, name, config)) bias.RequiresGrad = true;
    }

    /// <summary>
    /// A scope in which the model computes the base function: every adapter layer returns its base output (merged
    /// adapters are unmerged first) and input-side adapters (prompt, prefix) are off.
    /// </summary>
    public IDisposable DisableAdapters()
    {
        CheckUsable();
        var layers = AdapterLayers().Select(l => l.Layer).ToList();
        foreach (var layer in layers)
        {
            layer.Unmerge();
            layer.Disabled = true;
        }
        bool wasDisabled = _disabled;
        _disabled = true;
        return new Scope(() =>
        {
            foreach (var layer in layers) layer.Disabled = false;
            _disabled = wasDisabled;
        });
    }

    /// <summary>Deletes adapter <paramref name="name"/>; layers left without adapters return to their base modules.</summary>
    public void DeleteAdapter(string name)
    {
        CheckUsable();
        if (!_configs.ContainsKey(name)) throw new KeyNotFoundException($"PeftModel.DeleteAdapter: no adapter named '{name}'");
        foreach (var (path, layer) in AdapterLayers())
        {
            if (!layer.AdapterNames.Contains(name)) continue;
            layer.DeleteAdapter(name);
            if (layer.AdapterNames.Count == 0) Replace(path, layer.BaseModule);
        }
        var owned = Owned(name);
        if (ModelParts.Keys.Contains(name)) RemovePart(name);
        _configs.Remove(name);
        _order.Remove(name);
        _active.Remove(name);
        // Adapters it owned go with it (X-LoRA's experts).
        foreach (var o in owned) if (_configs.ContainsKey(o)) DeleteAdapter(o);
        if (_active.Count == 0 && _order.Count > 0) _active = [_order[0]];
        ApplyActive();
    }

    void RemovePart(string name)
    {
        var kept = new ModuleDict<AdapterModelPart>();
        foreach (var key in ModelParts.Keys.Where(k => k != name).ToList()) kept.Add(key, ModelParts[key]);
        ReplaceModule("adapter_parts", kept);
    }

    /// <summary>Merges adapters (the active ones by default) into the base weights; outputs are unchanged.</summary>
    /// <exception cref="NotSupportedException">An adapter's method cannot merge (input-side or non-linear methods).</exception>
    public void Merge(params string[] names)
    {
        CheckUsable();
        foreach (var n in names.Length == 0 ? _active.ToArray() : names)
            if (_configs.TryGetValue(n, out var c) && !PeftRegistry.ByConfigType(c.GetType()).Capabilities.HasFlag(AdapterCapabilities.Mergeable))
                throw new NotSupportedException($"PeftModel.Merge: adapter '{n}' ({c.PeftType}) cannot be merged into the base weights");
        // All or nothing: a layer that cannot fold one of them in (an aLoRA adapter, an Arrow router) refuses before
        // anything is merged.
        foreach (var (path, layer) in AdapterLayers())
            foreach (var n in names.Length == 0 ? _active.ToArray() : names)
                if (layer.AdapterNames.Contains(n) && layer.MergeRefusal(n) is { } why)
                    throw new NotSupportedException($"PeftModel.Merge: adapter '{n}' ({_configs[n].PeftType}) cannot be merged into the base weights at '{PathOf(path).External}': {why}");
        // A base weight tied across depths (layer tying, Relaxed Recursive Transformers) is one tensor for several
        // Linears: folding one depth's update into it would change every depth that shares it.
        var linears = Model.NamedModules().Where(m => m.Module is Linear).ToList();
        foreach (var (path, layer) in AdapterLayers())
            if (layer.BaseModule is Linear own && linears.FirstOrDefault(m => !ReferenceEquals(m.Module, own) && ReferenceEquals(((Linear)m.Module).Weight, own.Weight)) is { Module: not null } other)
                throw new NotSupportedException($"PeftModel.Merge: the base weight at '{PathOf(path).External}' is tied to '{PathOf(other.Name).External}' (one tensor for several depths); merging would change every depth that shares it");
        foreach (var (_, layer) in AdapterLayers()) layer.Merge(names.Length == 0 ? null : names);
    }

    /// <summary>Undoes every merge, restoring the base weights (round trip to float precision).</summary>
    public void Unmerge()
    {
        CheckUsable();
        foreach (var (_, layer) in AdapterLayers()) layer.Unmerge();
    }

    /// <summary>
    /// Merges the active adapters and replaces every adapter layer by its base module: a plain model that computes
    /// the adapted function (PEFT's <c>merge_and_unload</c>). Its parameters stay frozen. This PeftModel is finished.
    /// </summary>
    public Module MergeAndUnload()
    {
        Merge();
        return UnloadCore(unmerge: false);
    }

    /// <summary>Unmerges and removes every adapter layer, giving back the base model (PEFT's <c>unload</c>). This PeftModel is finished.</summary>
    public Module Unload() => UnloadCore(unmerge: true);

    Module UnloadCore(bool unmerge)
    {
        CheckUsable();
        foreach (var (path, layer) in AdapterLayers())
        {
            if (unmerge) layer.Unmerge();
            Replace(path, layer.BaseModule);
        }
        _unloaded = true;
        return Model;
    }

    /// <summary>Parameter counts; also prints PEFT's line to <paramref name="writer"/> (standard output by default).</summary>
    public TrainableParameterCount PrintTrainableParameters(TextWriter? writer = null)
    {
        var count = new TrainableParameterCount(ParameterCount(trainableOnly: true), ParameterCount());
        (writer ?? Console.Out).WriteLine(count.ToString());
        return count;
    }

    /// <summary>Adds a hook called after every optimiser step.</summary>
    public void AddStepHook(IStepHook hook) => _hooks.Add(hook);

    /// <summary>Removes a hook added by <see cref="AddStepHook"/>.</summary>
    public void RemoveStepHook(IStepHook hook) => _hooks.Remove(hook);

    /// <summary>
    /// Called after each optimiser step (before the gradients are cleared; <see cref="Trainer"/> does it): runs the
    /// added hooks and every adapter layer and model part that is an <see cref="IStepHook"/>.
    /// </summary>
    public void OnStep(int step)
    {
        foreach (var hook in _hooks) hook.OnStep(step, this);
        foreach (var name in ModelParts.Keys.ToList()) if (ModelParts[name] is IStepHook h) h.OnStep(step, this);
        foreach (var (_, layer) in AdapterLayers()) if (layer is IStepHook h) h.OnStep(step, this);
    }

    /// <inheritdoc/>
    public void AfterOptimizerStep(int step) => OnStep(step);

    /// <summary>
    /// The optimiser of the training loop that runs this model (<see cref="Trainer"/> attaches it), or null in a
    /// hand-written loop that did not call <see cref="AttachOptimizer"/>. Methods that grow register new tensors with
    /// it (<see cref="Optimizer.AddParamGroup"/>); methods that read moments use <see cref="Optimizer.StateOf"/>.
    /// </summary>
    public Optimizer? Optimizer { get; private set; }

    /// <inheritdoc/>
    public void AttachOptimizer(Optimizer optimizer) => Optimizer = optimizer;

    /// <summary>Before each step's forward pass: runs every adapter layer and model part that is an <see cref="ITrainingPhaseHook"/>.</summary>
    public void BeforeForward(int step)
    {
        foreach (var hook in PhaseHooks()) hook.BeforeForward(step, this);
    }

    /// <summary>After each step's backward pass (and after a failed step): the <see cref="ITrainingPhaseHook"/>s, in reverse order.</summary>
    public void AfterBackward(int step)
    {
        foreach (var hook in PhaseHooks().Reverse()) hook.AfterBackward(step, this);
    }

    IEnumerable<ITrainingPhaseHook> PhaseHooks() =>
        ModelParts.Keys.ToList().Select(n => ModelParts[n]).OfType<ITrainingPhaseHook>()
            .Concat(AdapterLayers().Select(l => l.Layer).OfType<ITrainingPhaseHook>()).ToList();

    /// <summary>
    /// The optimiser's parameter groups for the trainable parameters: the groups of the active adapters' model parts
    /// that set learning rates of their own (<see cref="IParamGroupSource"/>, DePT), then one group "default" at
    /// <paramref name="lr"/> for every other trainable parameter (left out when empty).
    /// <code>var optimizer = new AdamW(peft.ParamGroups(lr: 1e-3, weightDecay: 0));</code>
    /// </summary>
    public IReadOnlyList<ParamGroup> ParamGroups(double lr, double weightDecay = 0)
    {
        var groups = new List<ParamGroup>();
        foreach (var name in _active)
            if (ModelPart(name) is IParamGroupSource source)
                groups.AddRange(source.ParamGroups(this, lr, weightDecay).Where(g => g.Parameters.Count > 0));
        var claimed = new HashSet<Tensor>(groups.SelectMany(g => g.Parameters), ReferenceEqualityComparer.Instance);
        var rest = TrainableParameters().Where(p => !claimed.Contains(p)).ToList();
        if (rest.Count > 0 || groups.Count == 0) groups.Add(new ParamGroup(rest, lr, weightDecay, "default"));
        return groups;
    }

    /// <summary>
    /// The sum of the regularisation terms of the active, trainable adapters (AdaLoRA's orthogonality term), or null
    /// when none has one. <see cref="Trainer"/> adds it to every step's loss; a hand-written loop adds it itself.
    /// </summary>
    public Tensor? RegularizationLoss()
    {
        Tensor? total = null;
        foreach (var name in _active.Where(n => !_configs[n].InferenceMode))
            if (ModelPart(name) is ILossRegularizer r && r.Regularizer(this) is { } term)
                total = total is null ? term : total + term;
        return total;
    }

    /// <summary>
    /// The tensors of adapter <paramref name="name"/> under the keys of PEFT's files (live, not copies): the layers'
    /// tensors (<c>base_model.model.&lt;path&gt;.lora_A.weight</c>, the <c>modules_to_save</c> copies'
    /// <c>base_model.model.&lt;path&gt;.weight</c>) and the model part's shared tensors.
    /// </summary>
    public IEnumerable<AdapterTensor> NamedAdapterTensors(string name)
    {
        if (!_configs.ContainsKey(name)) throw new KeyNotFoundException($"PeftModel: no adapter named '{name}'; adapters: [{string.Join(", ", _order)}]");
        var list = new List<AdapterTensor>();
        foreach (var (path, layer) in AdapterLayers())
        {
            if (!layer.AdapterNames.Contains(name)) continue;
            foreach (var t in layer.AdapterTensors(name))
                list.Add(t with { Key = FileKey(PathOf(path), t.Key) });
        }
        if (ModelPart(name) is ISharedTensorOwner owner)
            foreach (var s in owner.SharedTensors()) list.Add(new AdapterTensor(s.Key, s.Tensor, s.Trainable));
        foreach (var (key, bias) in TrainedBiases.Of(this, name, _configs[name])) list.Add(new AdapterTensor(key, bias, Trainable: true));
        return list;
    }

    /// <summary>
    /// Writes adapters in Hugging Face PEFT's layout: <c>adapter_config.json</c> and <c>adapter_model.safetensors</c>
    /// in <paramref name="folder"/> for "default" and in <c>folder/&lt;name&gt;</c> for the others (all by default).
    /// </summary>
    public void SavePretrained(string folder, params string[] names) => SavePretrained(folder, convertToLora: false, names);

    /// <summary>
    /// As <see cref="SavePretrained(string, string[])"/>; with <paramref name="convertToLora"/>, adapters whose
    /// initialisation moved part of the base weight into the adapter (PiSSA, OLoRA, CorDA, LoRA-GA) are written as plain LoRA
    /// adapters of twice the rank that apply to the original base weights (PEFT's
    /// <c>path_initial_model_for_weight_conversion</c>).
    /// </summary>
    public void SavePretrained(string folder, bool convertToLora, params string[] names)
    {
        CheckUsable();
        // Owned adapters (X-LoRA's experts) are saved by their owner, in its folder.
        var owned = _order.SelectMany(Owned).ToHashSet(StringComparer.Ordinal);
        foreach (var name in names.Length == 0 ? _order.Where(n => !owned.Contains(n)).ToArray() : names)
            AdapterFiles.Save(this, name, name == "default" ? folder : Path.Combine(folder, name), convertToLora);
    }

    /// <summary>Loads an adapter saved in PEFT's layout as <paramref name="name"/>; frozen unless <paramref name="trainable"/>.</summary>
    /// <remarks>A file whose initialisation changed the base weight from data (CorDA, LoRA-GA) needs that data as
    /// <paramref name="calibration"/> (<see cref="ICalibratedConfig.LoadNeed"/>); other files ignore it.</remarks>
    public void LoadAdapter(string folder, string name, bool trainable = false, CalibrationData? calibration = null) => AdapterFiles.Load(this, folder, name, trainable, calibration);

    /// <summary>Records a configuration for an adapter whose layers were filled directly (weighted combinations).</summary>
    internal void RegisterAdapter(string name, PeftConfig config)
    {
        _configs[name] = config;
        if (!_order.Contains(name)) _order.Add(name);
        if (_active.Count == 0) _active = [name];
        ApplyActive();
    }

    /// <summary>Puts <paramref name="module"/> where the module at engine path <paramref name="path"/> is (temporary swaps: <see cref="LayerInputRecorder"/>).</summary>
    internal void SwapModule(string path, Module module) => Replace(path, module);

    void Replace(string path, Module module)
    {
        int dot = path.LastIndexOf('.');
        var parent = dot < 0 ? Model : Model.NamedModules().First(m => m.Name == path[..dot]).Module;
        parent.ReplaceModule(dot < 0 ? path : path[(dot + 1)..], module);
    }

    void CheckUsable()
    {
        if (_unloaded) throw new InvalidOperationException("PeftModel: the adapters were unloaded (MergeAndUnload/Unload); use the returned model");
    }

    sealed class Scope(Action onDispose) : IDisposable
    {
        bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            onDispose();
        }
    }
}

/// <summary>A <see cref="PeftModel"/> that knows the type of its model.</summary>
public sealed class PeftModel<T> : PeftModel where T : Module
{
    /// <summary>Wraps <paramref name="model"/>.</summary>
    public PeftModel(T model, IExternalModuleNames? naming = null) : base(model, naming) { }

    /// <summary>The adapted model, typed.</summary>
    public new T Model => (T)base.Model;

    /// <summary>Merges the active adapters and returns the plain model, typed.</summary>
    public new T MergeAndUnload() => (T)base.MergeAndUnload();
}
