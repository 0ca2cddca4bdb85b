namespace Engine.Peft;

/// <summary>
/// A model with named adapters (Hugging Face PEFT's <c>PeftModel</c>): targeted layers are wrapped in
/// <see cref="AdapterLayer"/>s inside <see cref="Model"/>, the base is frozen, and the adapters can be switched,
/// disabled, merged, combined, deleted, saved and loaded. Created by <see cref="Peft.Apply"/>.
/// <code>
/// var peft = Peft.Apply(gpt, new LoraConfig { R = 8, TargetModules = ["c_attn"] });
/// peft.PrintTrainableParameters();
/// var logits = peft.Forward(ids);
/// peft.SavePretrained("adapters/names");
/// </code>
/// </summary>
public class PeftModel : Module
{
    readonly Dictionary<string, PeftConfig> _configs = new();
    readonly List<string> _order = new();
    readonly List<IStepHook> _hooks = new();
    List<string> _active = new();
    bool _unloaded;

    /// <summary>Wraps <paramref name="model"/> without any adapter yet; <paramref name="naming"/> defaults to <see cref="ModuleNaming.For"/>.</summary>
    public PeftModel(Module model, IModuleNaming? naming = null)
    {
        RegisterModule("base_model", model);
        Shared = RegisterModule("shared", new SharedTensors());
        RegisterModule("prompt_encoder", new ModuleDict<Module>());
        Naming = naming ?? ModuleNaming.For(model);
        if (!model.Training) Eval();
    }

    /// <summary>The adapted model (its targeted layers are now adapter layers).</summary>
    public Module Model => Child("base_model");

    /// <summary>How engine module paths map to PEFT's file paths.</summary>
    public IModuleNaming Naming { get; }

    /// <summary>Tensors shared across layers by methods such as VeRA, stored once here.</summary>
    public SharedTensors Shared { get; }

    /// <summary>Modules of input-side adapters by adapter name (PEFT's <c>prompt_encoder</c>).</summary>
    public ModuleDict<Module> PromptModules => (ModuleDict<Module>)Child("prompt_encoder");

    /// <summary>Configurations by adapter name (PEFT's <c>peft_config</c>).</summary>
    public IReadOnlyDictionary<string, PeftConfig> PeftConfigs => _configs;

    /// <summary>Adapter names in the order they were added.</summary>
    public IReadOnlyList<string> AdapterNames => _order;

    /// <summary>The adapters that currently contribute.</summary>
    public IReadOnlyList<string> ActiveAdapters => _active;

    /// <summary>Hooks called by <see cref="OnStep"/>.</summary>
    public IReadOnlyList<IStepHook> StepHooks => _hooks;

    /// <summary>Runs the adapted model on one input.</summary>
    public override Tensor Forward(Tensor input)
    {
        foreach (var name in _active)
            if (_configs[name].Forward(this, name, input) is { } output) return output;
        return Model.Forward(input);
    }

    /// <summary>The module path of <paramref name="enginePath"/> under both names.</summary>
    public ModulePath PathOf(string enginePath) => new(enginePath, Naming.ExternalPath(enginePath));

    /// <summary>Every adapter layer with its engine path.</summary>
    public IEnumerable<(string Path, AdapterLayer Layer)> AdapterLayers() =>
        Model.NamedModules().Where(m => m.Module is AdapterLayer).Select(m => (m.Name, (AdapterLayer)m.Module)).ToList();

    /// <summary>
    /// Adds adapter <paramref name="name"/> on every module <paramref name="config"/> targets, wrapping plain
    /// <see cref="Linear"/> layers and extending layers that are already adapted. The first adapter becomes active;
    /// later ones are inactive until <see cref="SetAdapter"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The name is taken, or no module matches the targets.</exception>
    public void AddAdapter(string name, PeftConfig config)
    {
        CheckUsable();
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"PeftModel.AddAdapter: '{name}' is not a valid adapter name (non-empty, no dots)");
        if (_configs.ContainsKey(name)) throw new ArgumentException($"PeftModel.AddAdapter: an adapter named '{name}' already exists");
        void Register()
        {
            _configs[name] = config;
            _order.Add(name);
            if (_active.Count == 0) _active = [name];
        }
        if (!config.TargetsLayers)
        {
            // Input-side methods create their modules first, which ApplyActive then freezes or not.
            Register();
            config.OnAdapterAdded(this, name);
            ApplyActive();
            return;
        }
        var modules = Model.NamedModules().ToList();
        var byPath = modules.ToDictionary(m => m.Name, m => m.Module);
        var adapterPaths = modules.Where(m => m.Module is AdapterLayer).Select(m => m.Name + ".").ToList();
        int matched = 0;
        foreach (var (path, module) in modules)
        {
            if (path.Length == 0 || adapterPaths.Any(p => path.StartsWith(p, StringComparison.Ordinal))) continue;
            var where = PathOf(path);
            if (!TargetMatcher.IsTarget(config, where)) continue;
            AdapterLayer layer;
            if (module is AdapterLayer existing)
            {
                if (!existing.Accepts(config))
                    throw new NotSupportedException($"PeftModel.AddAdapter: '{where.External}' already holds {existing.GetType().Name} adapters; mixing methods on one layer is not supported");
                layer = existing;
            }
            else if (module is Linear linear)
            {
                layer = config.CreateLayer(linear);
                int dot = path.LastIndexOf('.');
                var parent = dot < 0 ? Model : byPath[path[..dot]];
                parent.ReplaceModule(dot < 0 ? path : path[(dot + 1)..], layer);
                layer.Train(linear.Training);
            }
            else continue;
            layer.AddAdapter(name, config, where);
            matched++;
        }
        if (matched == 0)
        {
            var linears = modules.Where(m => m.Module is Linear).Select(m => PathOf(m.Name).External).Take(8);
            throw new ArgumentException($"PeftModel.AddAdapter: no module matches the targets of adapter '{name}' " +
                $"(target_modules [{string.Join(", ", config.TargetModules ?? [])}], regex '{config.TargetModulesRegex}'); Linear layers include: {string.Join(", ", linears)}");
        }
        Register();
        ApplyActive();
        config.OnAdapterAdded(this, name);
    }

    /// <summary>Replaces the stored configuration of adapter <paramref name="name"/> (a schedule that fixes its rank pattern, say).</summary>
    public void UpdateConfig(string name, PeftConfig config)
    {
        if (!_configs.ContainsKey(name)) throw new KeyNotFoundException($"PeftModel.UpdateConfig: no adapter named '{name}'");
        _configs[name] = config;
    }

    /// <summary>Removes a hook added by <see cref="AddStepHook"/>.</summary>
    public void RemoveStepHook(IStepHook hook) => _hooks.Remove(hook);

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

    void ApplyActive()
    {
        foreach (var (_, layer) in AdapterLayers()) layer.SetActive(_active);
        // Freeze the base; modules_to_save train fully; adapter tensors train while their adapter is active.
        foreach (var p in Model.Parameters()) p.RequiresGrad = false;
        foreach (var name in _active.Where(n => !_configs[n].InferenceMode))
            foreach (var (_, module) in ModulesToSave(_configs[name])) module.RequiresGrad(true);
        foreach (var (_, layer) in AdapterLayers())
            foreach (var name in layer.AdapterNames)
            {
                bool train = _active.Contains(name) && !_configs[name].InferenceMode;
                foreach (var (_, t) in layer.AdapterTensors(name)) t.RequiresGrad = train;
            }
        foreach (var name in PromptModules.Keys)
            PromptModules[name].RequiresGrad(_active.Contains(name) && _configs.TryGetValue(name, out var c) && !c.InferenceMode);
    }

    /// <summary>A scope in which every adapter layer returns its base output (merged adapters are unmerged first).</summary>
    public IDisposable DisableAdapters()
    {
        CheckUsable();
        var layers = AdapterLayers().Select(l => l.Layer).ToList();
        foreach (var layer in layers)
        {
            layer.Unmerge();
            layer.Disabled = true;
        }
        return new Scope(() => { foreach (var layer in layers) layer.Disabled = false; });
    }

    /// <summary>Deletes adapter <paramref name="name"/>; layers left without adapters return to plain base layers.</summary>
    public void DeleteAdapter(string name)
    {
        CheckUsable();
        if (!_configs.ContainsKey(name)) throw new KeyNotFoundException($"PeftModel.DeleteAdapter: no adapter named '{name}'");
        foreach (var (path, layer) in AdapterLayers())
        {
            if (!layer.AdapterNames.Contains(name)) continue;
            layer.DeleteAdapter(name);
            if (layer.AdapterNames.Count == 0) Replace(path, layer.BaseLayer);
        }
        if (PromptModules.Keys.Contains(name))
        {
            var kept = new ModuleDict<Module>();
            foreach (var key in PromptModules.Keys.Where(k => k != name).ToList()) kept.Add(key, PromptModules[key]);
            ReplaceModule("prompt_encoder", kept);
        }
        // Shared tensors of the adapter (VeRA's bases) stay in Shared: modules cannot unregister tensors.
        _configs.Remove(name);
        _order.Remove(name);
        _active.Remove(name);
        if (_active.Count == 0 && _order.Count > 0) _active = [_order[0]];
        ApplyActive();
    }

    /// <summary>Merges adapters (the active ones by default) into the base weights; outputs are unchanged.</summary>
    public void Merge(params string[] names)
    {
        CheckUsable();
        foreach (var (_, layer) in AdapterLayers()) layer.Merge(names.Length == 0 ? null : names);
    }

    /// <summary>Undoes every merge, restoring the base weights (round trip to float precision).</summary>
    public void Unmerge()
    {
        CheckUsable();
        foreach (var (_, layer) in AdapterLayers()) layer.Unmerge();
    }

    /// <summary>
    /// Merges the active adapters and replaces every adapter layer by its base layer: a plain model that computes
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
            Replace(path, layer.BaseLayer);
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

    /// <summary>Adds a hook called by <see cref="OnStep"/>.</summary>
    public void AddStepHook(IStepHook hook) => _hooks.Add(hook);

    /// <summary>
    /// Called by the training loop after each optimiser step (before the gradients are cleared): runs the added hooks
    /// and every adapter layer that is itself an <see cref="IStepHook"/>.
    /// </summary>
    public void OnStep(int step)
    {
        foreach (var hook in _hooks) hook.OnStep(step, this);
        foreach (var (_, layer) in AdapterLayers())
            if (layer is IStepHook h) h.OnStep(step, this);
    }

    /// <summary>
    /// Writes adapters in Hugging Face PEFT's layout: <c>adapter_config.json</c> and <c>adapter_model.safetensors</c>
    /// in <paramref name="folder"/> for "default" and in <c>folder/&lt;name&gt;</c> for the others (all by default).
    /// </summary>
    public void SavePretrained(string folder, params string[] names) => SavePretrained(folder, convertToLora: false, names);

    /// <summary>
    /// As <see cref="SavePretrained(string, string[])"/>; with <paramref name="convertToLora"/>, adapters whose
    /// initialisation moved part of the base weight into the adapter (PiSSA, OLoRA) are written as plain LoRA
    /// adapters of twice the rank that apply to the original base weights (PEFT's
    /// <c>path_initial_model_for_weight_conversion</c>).
    /// </summary>
    public void SavePretrained(string folder, bool convertToLora, params string[] names)
    {
        CheckUsable();
        foreach (var name in names.Length == 0 ? _order.ToArray() : names)
            AdapterFiles.Save(this, name, name == "default" ? folder : Path.Combine(folder, name), convertToLora);
    }

    /// <summary>Loads an adapter saved in PEFT's layout as <paramref name="name"/>; frozen unless <paramref name="trainable"/>.</summary>
    public void LoadAdapter(string folder, string name, bool trainable = false) => AdapterFiles.Load(this, folder, name, trainable);

    /// <summary>The modules named by the adapters' <c>modules_to_save</c>, with their engine paths.</summary>
    public IEnumerable<(string Path, Module Module)> ModulesToSave(PeftConfig config) =>
        Model.NamedModules().Where(m => m.Name.Length > 0 && config.ModulesToSave is { } names &&
            (TargetMatcher.MatchesName(names, m.Name) || TargetMatcher.MatchesName(names, Naming.ExternalPath(m.Name)))).ToList();

    /// <summary>Records a configuration for an adapter whose layers were filled directly (combinations, loading).</summary>
    internal void RegisterAdapter(string name, PeftConfig config)
    {
        _configs[name] = config;
        if (!_order.Contains(name)) _order.Add(name);
        if (_active.Count == 0) _active = [name];
        ApplyActive();
    }

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
    public PeftModel(T model, IModuleNaming? naming = null) : base(model, naming) { }

    /// <summary>The adapted model, typed.</summary>
    public new T Model => (T)base.Model;

    /// <summary>Merges the active adapters and returns the plain model, typed.</summary>
    public new T MergeAndUnload() => (T)base.MergeAndUnload();
}
