namespace Engine.Peft;

/// <summary>
/// Base of every adapter layer: it wraps a frozen module (registered as <c>base_layer</c>, PEFT's name) and owns the
/// plumbing every method shares, written once: the per-adapter containers (<c>lora_A.&lt;adapter&gt;</c>), their file
/// keys (the container name, then the entry's own parameter name: <c>lora_A.weight</c>, <c>lora_E</c>), adding and
/// deleting adapters (all-or-nothing), dropout, and the active/disabled/merged state. A method derives from a family
/// base (<see cref="AdditiveAdapterLayer"/>, <see cref="WeightTransformAdapterLayer"/>) or from this class and writes
/// only <see cref="CreateAdapter"/> and its forward. Merges stack: the last merged is unmerged first.
/// </summary>
public abstract class AdapterLayer : Module, IModuleWrapper
{
    readonly List<string> _order = new();
    readonly Dictionary<string, (PeftConfig Config, ModulePath Path, object? State)> _adapters = new();
    readonly List<string> _containers = new();
    readonly List<string> _merged = new();
    readonly HashSet<(string Container, string Adapter)> _frozen = new();
    List<string> _active = new();
    string? _dropoutContainer;

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    protected AdapterLayer(Module baseLayer) => RegisterModule("base_layer", baseLayer);

    /// <summary>The wrapped module (its weights include any merged adapters).</summary>
    public Module BaseModule => Child("base_layer");

    Module IModuleWrapper.Wrapped => BaseModule;

    /// <summary>The wrapped <see cref="Linear"/>.</summary>
    /// <exception cref="InvalidOperationException">The wrapped module is not a Linear.</exception>
    public Linear BaseLayer => BaseModule as Linear
        ?? throw new InvalidOperationException($"{GetType().Name}: wraps a {BaseModule.GetType().Name}, not a Linear");

    /// <summary>Input features of the wrapped Linear.</summary>
    public int InFeatures => BaseLayer.InFeatures;

    /// <summary>Output features of the wrapped Linear.</summary>
    public int OutFeatures => BaseLayer.OutFeatures;

    /// <summary>The wrapped module's weight (Linear [out, in], Embedding [num, dim], norms [dim]).</summary>
    protected Tensor BaseWeight => BaseModule switch
    {
        Linear l => l.Weight,
        Embedding e => e.Weight,
        LayerNorm n => n.Weight,
        RMSNorm n => n.Weight,
        var m => throw new NotSupportedException($"{GetType().Name}: no weight known for a {m.GetType().Name}"),
    };

    /// <summary>The wrapped module's bias, or null.</summary>
    protected Tensor? BaseBias => BaseModule switch { Linear l => l.Bias, LayerNorm n => n.Bias, _ => null };

    /// <summary>Names of the adapters this layer holds, in the order they were added.</summary>
    public IReadOnlyList<string> AdapterNames => _order;

    /// <summary>Adapters that contribute to the output (or are merged).</summary>
    public IReadOnlyList<string> ActiveAdapters => _active;

    /// <summary>Adapters currently merged into the base weight, in merge order.</summary>
    public IReadOnlyList<string> MergedAdapters => _merged;

    /// <summary>True when at least one adapter is merged.</summary>
    public bool Merged => _merged.Count > 0;

    /// <summary>When true, the layer returns the base output (adapters must be unmerged first).</summary>
    public bool Disabled { get; set; }

    /// <summary>The configuration adapter <paramref name="name"/> was added with.</summary>
    public PeftConfig ConfigOf(string name) => Entry(name).Config;

    /// <summary>Where this layer sits, as adapter <paramref name="name"/> was told.</summary>
    public ModulePath PathOf(string name) => Entry(name).Path;

    /// <summary>True when <paramref name="config"/> is of this layer's method.</summary>
    public bool Accepts(PeftConfig config) => PeftRegistry.ByConfigType(config.GetType()).LayerType == GetType();

    /// <summary>
    /// Adds adapter <paramref name="context"/>.Name. All or nothing: when the method's <see cref="CreateAdapter"/>
    /// throws, whatever it had registered is removed again and the layer is as it was.
    /// </summary>
    public void AddAdapter(AdapterContext context)
    {
        var name = context.Name;
        if (_adapters.ContainsKey(name)) throw new ArgumentException($"{GetType().Name}: '{context.Path.External}' already has an adapter named '{name}'");
        _adapters[name] = (context.Config, context.Path, null);
        _order.Add(name);
        try { CreateAdapter(context); }
        catch
        {
            RemoveEntries(name);
            throw;
        }
        Train(Training);
    }

    /// <summary>
    /// The tensors <see cref="CreateAdapter"/> registers for <paramref name="context"/> (file key suffixes and shapes),
    /// computed from the configuration and the wrapped module without allocating them; a law test keeps the two equal.
    /// </summary>
    /// <exception cref="ArgumentException">The configuration gives this module an invalid size (a rank below 1...).</exception>
    public abstract IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context);

    /// <summary>A planned tensor of <paramref name="shape"/> in <paramref name="container"/> under its file key suffix (<paramref name="member"/>: a sub-module's tensor name, or null for a tensor stored directly).</summary>
    protected PlannedTensor Planned(string container, string? member, params int[] shape) => new(FileKey(container, member), shape);

    /// <summary>A planned integer tensor (positions, indices) whose values must lie in [0, <paramref name="indexBound"/>) when given (<see cref="PlannedTensor.Integer"/>).</summary>
    protected PlannedTensor PlannedIntegers(string container, string? member, long? indexBound, params int[] shape) =>
        new(FileKey(container, member), shape) { Integer = true, IndexBound = indexBound };

    /// <summary>A planned tensor that PEFT may leave out of its files, rebuilt from the config when it does (<see cref="PlannedTensor.RecomputedIfMissing"/>).</summary>
    protected PlannedTensor PlannedRecomputed(string container, string? member, params int[] shape) =>
        new(FileKey(container, member), shape) { RecomputedIfMissing = true };

    /// <summary>Creates the tensors of a new adapter with <see cref="AddParameter"/>, <see cref="AddBuffer"/>, <see cref="AddModule{T}"/> and <see cref="AddDropout"/>.</summary>
    protected abstract void CreateAdapter(AdapterContext context);

    /// <summary>Per-adapter settings of the method (rank, scale...), set in <see cref="CreateAdapter"/>.</summary>
    protected T State<T>(string name) where T : class => Entry(name).State as T
        ?? throw new InvalidOperationException($"{GetType().Name}: adapter '{name}' has no {typeof(T).Name}");

    /// <summary>The per-adapter settings of <paramref name="name"/>, when they are set (a failed add may stop before).</summary>
    protected bool TryState<T>(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out T? state) where T : class
    {
        state = _adapters.TryGetValue(name, out var e) ? e.State as T : null;
        return state is not null;
    }

    /// <summary>
    /// Freezes the tensors of adapter <paramref name="adapter"/> in <paramref name="container"/>: they are saved and
    /// loaded as before but never train (MiCA's B; PEFT's <c>frozen_peft_weight_names</c>).
    /// </summary>
    protected void FreezeTensor(string container, string adapter)
    {
        _frozen.Add((container, adapter));
        foreach (var t in AdapterTensors(adapter)) if (!t.Trainable) t.Tensor.RequiresGrad = false;
    }

    /// <summary>
    /// Undoes <see cref="FreezeTensor"/> for <paramref name="container"/>: its tensors of adapter <paramref name="adapter"/>
    /// train from now on (IncreLoRA's reserve lambda once its block is activated). Returns the tensor (the first, for a
    /// module entry).
    /// </summary>
    protected Tensor UnfreezeTensor(string container, string adapter)
    {
        _frozen.Remove((container, adapter));
        Tensor? first = null;
        foreach (var t in AdapterTensors(adapter))
            if (t.Key == FileKey(container, null) || t.Key.StartsWith(FileKey(container, null) + ".", StringComparison.Ordinal))
            {
                t.Tensor.RequiresGrad = true;
                first ??= t.Tensor;
            }
        return first ?? throw new KeyNotFoundException($"{GetType().Name}: container '{container}' has no tensor of adapter '{adapter}'");
    }

    /// <summary>Stores the per-adapter settings of <paramref name="name"/>.</summary>
    protected void SetState(string name, object state) => _adapters[name] = Entry(name) with { State = state };

    /// <summary>Registers a trainable tensor of adapter <paramref name="adapter"/> in <paramref name="container"/> (file key: the container's name).</summary>
    protected Tensor AddParameter(string container, string adapter, Tensor value) => Container<ParameterDict>(container).Add(adapter, value);

    /// <summary>Registers a frozen tensor of adapter <paramref name="adapter"/> in <paramref name="container"/> (saved, never trained).</summary>
    protected Tensor AddBuffer(string container, string adapter, Tensor value) => Container<BufferDict>(container).Add(adapter, value);

    /// <summary>Registers a sub-module of adapter <paramref name="adapter"/> in <paramref name="container"/> (file keys: container + its parameter names).</summary>
    protected T AddModule<T>(string container, string adapter, T module) where T : Module
    {
        module.To(BaseWeight.DType);
        Container<ModuleDict<Module>>(container).Add(adapter, module);
        return module;
    }

    /// <summary>
    /// Puts <paramref name="module"/> (another layer's, so the two share its tensors) in place of adapter
    /// <paramref name="adapter"/>'s entry in <paramref name="container"/>: Lily's A and B, shared across layers.
    /// </summary>
    protected void ReplaceModuleEntry(string container, string adapter, Module module)
    {
        var dict = Container<ModuleDict<Module>>(container);
        if (!dict.Keys.Contains(adapter)) throw new KeyNotFoundException($"{GetType().Name}: container '{container}' has no entry for adapter '{adapter}'");
        var rebuilt = new ModuleDict<Module>();
        foreach (var key in dict.Keys.ToList()) rebuilt.Add(key, key == adapter ? module : dict[key]);
        rebuilt.Train(Training);
        ReplaceModule(container, rebuilt);
    }

    /// <summary>Registers the input dropout of adapter <paramref name="adapter"/> (<c>lora_dropout</c>...), applied by <see cref="Dropout"/>.</summary>
    protected void AddDropout(string container, string adapter, double p, Generator? generator = null)
    {
        if (!(p >= 0 && p < 1)) throw new ArgumentException($"{GetType().Name}: dropout must be in [0, 1), got {p}");
        _dropoutContainer ??= container;
        if (_dropoutContainer != container) throw new InvalidOperationException($"{GetType().Name}: one dropout container per layer ('{_dropoutContainer}')");
        Container<ModuleDict<Module>>(container).Add(adapter, new Dropout(p, generator));
    }

    /// <summary>The adapter's input dropout applied to <paramref name="x"/> (identity when it has none).</summary>
    protected Tensor Dropout(string adapter, Tensor x) =>
        _dropoutContainer is { } c && Container<ModuleDict<Module>>(c).Keys.Contains(adapter) ? Container<ModuleDict<Module>>(c)[adapter].Forward(x) : x;

    /// <summary>True when adapter <paramref name="adapter"/>'s dropout is the identity now (none, p = 0, or evaluation mode).</summary>
    protected bool DropoutIsIdentity(string adapter) =>
        _dropoutContainer is not { } c || !Container<ModuleDict<Module>>(c).Keys.Contains(adapter)
        || !Training || ((Dropout)Container<ModuleDict<Module>>(c)[adapter]).P == 0;

    /// <summary>The trainable tensor of <paramref name="adapter"/> in <paramref name="container"/>.</summary>
    protected Tensor Parameter(string container, string adapter) => Container<ParameterDict>(container)[adapter];

    /// <summary>The frozen tensor of <paramref name="adapter"/> in <paramref name="container"/>.</summary>
    protected Tensor Buffer(string container, string adapter) => Container<BufferDict>(container)[adapter];

    /// <summary>The sub-module of <paramref name="adapter"/> in <paramref name="container"/>.</summary>
    protected T ModuleOf<T>(string container, string adapter) where T : Module => (T)Container<ModuleDict<Module>>(container)[adapter];

    /// <summary>
    /// The tensors of one adapter with PEFT's key suffixes (<c>lora_A.weight</c>, <c>lora_E</c>) and whether they
    /// train: what files hold, what is frozen, what is deleted.
    /// </summary>
    public IEnumerable<AdapterTensor> AdapterTensors(string name)
    {
        Entry(name);
        foreach (var container in _containers)
            switch (Child(container))
            {
                case ParameterDict p when p.Keys.Contains(name): yield return new(FileKey(container, null), p[name], !_frozen.Contains((container, name))); break;
                case BufferDict b when b.Keys.Contains(name): yield return new(FileKey(container, null), b[name], false); break;
                case ModuleDict<Module> d when d.Keys.Contains(name):
                    foreach (var (key, t) in d[name].NamedParameters()) yield return new(FileKey(container, key), t, !_frozen.Contains((container, name)));
                    foreach (var (key, t) in d[name].NamedBuffers()) yield return new(FileKey(container, key), t, false);
                    break;
            }
    }

    /// <summary>
    /// The file key suffix of a tensor: the container's name, then the entry's own member name (<c>lora_A.weight</c>;
    /// <c>lora_E</c> for a tensor stored directly in the container).
    /// </summary>
    protected virtual string FileKey(string container, string? member) => member is null ? container : container + "." + member;

    /// <summary>Deletes adapter <paramref name="name"/> (it must not be merged).</summary>
    public void DeleteAdapter(string name)
    {
        Entry(name);
        if (_merged.Contains(name))
            throw new InvalidOperationException($"{GetType().Name}.DeleteAdapter: adapter '{name}' is merged; call Unmerge first");
        RemoveEntries(name);
    }

    /// <summary>
    /// Removes adapter <paramref name="adapter"/>'s entries in <paramref name="containers"/> while the adapter stays:
    /// a method whose structure changes during training drops tensors for good (DiffoRA's discretisation removes the
    /// gates, and every tensor of the modules it drops). The adapter must not be merged.
    /// </summary>
    protected void RemoveTensors(string adapter, params string[] containers)
    {
        Entry(adapter);
        if (_merged.Contains(adapter)) throw new InvalidOperationException($"{GetType().Name}: adapter '{adapter}' is merged; unmerge it before removing its tensors");
        foreach (var container in containers.Where(_containers.Contains)) RemoveEntry(container, adapter);
        foreach (var container in containers) _frozen.Remove((container, adapter));
    }

    /// <summary>
    /// Called before adapter <paramref name="name"/>'s tensors are removed (deleted, or a failed add rolled back):
    /// methods that changed the base weight when they were added (PiSSA, OLoRA) put it back here.
    /// </summary>
    protected virtual void OnRemoving(string name) { }

    void RemoveEntries(string name)
    {
        OnRemoving(name);
        foreach (var container in _containers) RemoveEntry(container, name);
        _frozen.RemoveWhere(f => f.Adapter == name);
        _adapters.Remove(name);
        _order.Remove(name);
        _active.Remove(name);
    }

    // Drops one adapter's entry from one container; the dictionaries are immutable, so the container is replaced.
    void RemoveEntry(string container, string adapter)
    {
        switch (Child(container))
        {
            case ParameterDict p when p.Keys.Contains(adapter): ReplaceModule(container, p.Without(adapter)); break;
            case BufferDict b when b.Keys.Contains(adapter): ReplaceModule(container, b.Without(adapter)); break;
            case ModuleDict<Module> d when d.Keys.Contains(adapter):
                var rebuilt = new ModuleDict<Module>();
                foreach (var key in d.Keys.Where(k => k != adapter).ToList()) rebuilt.Add(key, d[key]);
                rebuilt.Train(Training);
                ReplaceModule(container, rebuilt);
                break;
        }
    }

    /// <summary>Makes <paramref name="names"/> the active adapters (those this layer does not hold are ignored).</summary>
    public void SetActive(IEnumerable<string> names) => _active = names.Where(_adapters.ContainsKey).Distinct().ToList();

    /// <summary>Base output plus the effect of the active adapters that are not merged.</summary>
    public override Tensor Forward(Tensor input)
    {
        if (Disabled) return BaseModule.Forward(input);
        var adapters = _active.Where(a => !_merged.Contains(a)).ToList();
        return adapters.Count == 0 ? BaseModule.Forward(input) : ForwardAdapters(input, adapters);
    }

    /// <summary>The output with <paramref name="adapters"/> (active, unmerged, at least one) applied.</summary>
    protected abstract Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters);

    /// <summary>True when adapter <paramref name="name"/> can be folded into the base weights.</summary>
    public virtual bool IsMergeable(string name) => false;

    /// <summary>Why adapter <paramref name="name"/> cannot be merged, when its method says more than "cannot" (an Arrow router); null otherwise.</summary>
    public virtual string? MergeRefusal(string name) => null;

    /// <summary>The base weight and bias with adapter <paramref name="name"/> folded in.</summary>
    protected virtual (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias) =>
        throw new NotSupportedException($"{GetType().Name}: adapter '{name}' cannot be merged into the base weights");

    /// <summary>The inverse of <see cref="MergeWeights"/>.</summary>
    protected virtual (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias) =>
        throw new NotSupportedException($"{GetType().Name}: adapter '{name}' cannot be unmerged");

    /// <summary>Merges adapters into the base weight (all active ones by default); merged adapters stop adding at runtime.</summary>
    /// <exception cref="NotSupportedException">An adapter of a method that cannot merge (the method is named).</exception>
    public void Merge(IEnumerable<string>? names = null)
    {
        foreach (var name in (names ?? _active).ToList())
        {
            if (!_adapters.ContainsKey(name) || _merged.Contains(name)) continue;
            if (!IsMergeable(name))
                throw new NotSupportedException($"{GetType().Name}.Merge: adapter '{name}' ({ConfigOf(name).PeftType}) cannot be merged into the base weights"
                    + (MergeRefusal(name) is { } why ? ": " + why : ""));
            // Merging into a tied head would change the token embedding too (PEFT does that silently).
            if (BaseModule is Linear { SharesWeight: true })
                throw new NotSupportedException($"{GetType().Name}.Merge: '{PathOf(name).External}' shares its weight with another module (a tied head); merging adapter '{name}' would change both");
            ApplyToBase(MergeWeights, name);
            _merged.Add(name);
        }
    }

    /// <summary>Takes every merged adapter out of the base weight, last merged first.</summary>
    public void Unmerge()
    {
        for (int i = _merged.Count - 1; i >= 0; i--)
        {
            ApplyToBase(UnmergeWeights, _merged[i]);
            _merged.RemoveAt(i);
        }
    }

    void ApplyToBase(Func<string, Tensor, Tensor?, (Tensor, Tensor?)> change, string name)
    {
        using var _ = Autograd.Autograd.NoGrad();
        var w = BaseWeight;
        var b = BaseBias;
        var (nw, nb) = change(name, w.Detach(), b?.Detach());
        w.CopyFrom(nw.To(w.DType));
        if (b is not null && nb is not null) b.CopyFrom(nb.To(b.DType));
    }

    T Container<T>(string name) where T : Module, new()
    {
        if (!_containers.Contains(name))
        {
            RegisterModule(name, new T());
            _containers.Add(name);
        }
        return Child(name) as T ?? throw new InvalidOperationException($"{GetType().Name}: container '{name}' holds a {Child(name).GetType().Name}, not a {typeof(T).Name}");
    }

    (PeftConfig Config, ModulePath Path, object? State) Entry(string name) => _adapters.TryGetValue(name, out var e) ? e
        : throw new KeyNotFoundException($"{GetType().Name}: no adapter named '{name}'; adapters: [{string.Join(", ", _order)}]");
}

/// <summary>One tensor of an adapter on a layer.</summary>
/// <param name="Key">The key suffix in PEFT's files (<c>lora_A.weight</c>).</param>
/// <param name="Tensor">The live tensor.</param>
/// <param name="Trainable">True for parameters, false for frozen buffers.</param>
public readonly record struct AdapterTensor(string Key, Tensor Tensor, bool Trainable)
{
    /// <summary>The key and tensor.</summary>
    public void Deconstruct(out string key, out Tensor tensor) { key = Key; tensor = Tensor; }
}
