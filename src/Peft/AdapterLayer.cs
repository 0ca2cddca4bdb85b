namespace Engine.Peft;

/// <summary>
/// Base of the layers that adapt a frozen <see cref="Linear"/> (registered as <c>base_layer</c>, PEFT's name). It holds
/// several named adapters, of which any subset is active; the output is the base output plus each active, unmerged
/// adapter's contribution. Mergeable methods give <see cref="DeltaWeight"/>; methods that reparameterise the weight
/// (DoRA) override <see cref="MergeWeight"/>/<see cref="UnmergeWeight"/>. Merges stack: the last merged is unmerged first.
/// </summary>
public abstract class AdapterLayer : Module
{
    readonly List<string> _merged = new();
    List<string> _active = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    protected AdapterLayer(Linear baseLayer) => RegisterModule("base_layer", baseLayer);

    /// <summary>The wrapped layer (its weight includes any merged adapters).</summary>
    public Linear BaseLayer => (Linear)Child("base_layer");

    /// <summary>Input features of the base layer.</summary>
    public int InFeatures => BaseLayer.InFeatures;

    /// <summary>Output features of the base layer.</summary>
    public int OutFeatures => BaseLayer.OutFeatures;

    /// <summary>Names of the adapters this layer holds, in the order they were added.</summary>
    public abstract IReadOnlyList<string> AdapterNames { get; }

    /// <summary>Adapters that contribute to the output (or are merged).</summary>
    public IReadOnlyList<string> ActiveAdapters => _active;

    /// <summary>Adapters currently merged into the base weight, in merge order.</summary>
    public IReadOnlyList<string> MergedAdapters => _merged;

    /// <summary>True when at least one adapter is merged.</summary>
    public bool Merged => _merged.Count > 0;

    /// <summary>When true, the layer returns the base output (adapters must be unmerged first).</summary>
    public bool Disabled { get; set; }

    /// <summary>True when <paramref name="config"/> is of this layer's method.</summary>
    public abstract bool Accepts(PeftConfig config);

    /// <summary>Adds an adapter named <paramref name="name"/> for the module at <paramref name="path"/>.</summary>
    public abstract void AddAdapter(string name, PeftConfig config, ModulePath path);

    /// <summary>Removes the tensors of adapter <paramref name="name"/>.</summary>
    protected abstract void RemoveAdapter(string name);

    /// <summary>The trainable tensors of one adapter with PEFT's key suffixes (<c>lora_A.weight</c>), for files and freezing.</summary>
    public abstract IEnumerable<(string Key, Tensor Tensor)> AdapterTensors(string name);

    /// <summary>The summed contribution of <paramref name="adapters"/> (active, unmerged) added to <paramref name="baseOutput"/>.</summary>
    protected abstract Tensor AddContributions(Tensor input, Tensor baseOutput, IReadOnlyList<string> adapters);

    /// <summary>The additive change of the base weight [out, in] that adapter <paramref name="name"/> stands for.</summary>
    public abstract Tensor DeltaWeight(string name);

    /// <summary>The base weight with adapter <paramref name="name"/> merged in; additive by default.</summary>
    protected virtual Tensor MergeWeight(Tensor weight, string name) => weight + DeltaWeight(name);

    /// <summary>The inverse of <see cref="MergeWeight"/>.</summary>
    protected virtual Tensor UnmergeWeight(Tensor weight, string name) => weight - DeltaWeight(name);

    /// <summary>The base bias with adapter <paramref name="name"/> merged in; unchanged by default (IA3 scales it).</summary>
    protected virtual Tensor MergeBias(Tensor bias, string name) => bias;

    /// <summary>The inverse of <see cref="MergeBias"/>.</summary>
    protected virtual Tensor UnmergeBias(Tensor bias, string name) => bias;

    /// <summary>True when adapter <paramref name="name"/> can be folded into the base weights.</summary>
    public virtual bool IsMergeable(string name) => true;

    /// <summary>Base output plus the contributions of the active adapters that are not merged.</summary>
    public override Tensor Forward(Tensor input)
    {
        var result = BaseLayer.Forward(input);
        if (Disabled) return result;
        var adapters = _active.Where(a => !_merged.Contains(a)).ToList();
        return adapters.Count == 0 ? result : AddContributions(input, result, adapters);
    }

    /// <summary>Makes <paramref name="names"/> the active adapters (those this layer does not hold are ignored).</summary>
    public void SetActive(IEnumerable<string> names) => _active = names.Where(AdapterNames.Contains).Distinct().ToList();

    /// <summary>Merges adapters into the base weight (all active ones by default); merged adapters stop adding at runtime.</summary>
    public void Merge(IEnumerable<string>? names = null)
    {
        foreach (var name in (names ?? _active).ToList())
        {
            if (!AdapterNames.Contains(name) || _merged.Contains(name)) continue;
            if (!IsMergeable(name)) throw new NotSupportedException($"{GetType().Name}.Merge: adapter '{name}' cannot be merged into the base weights");
            using (Autograd.Autograd.NoGrad())
            {
                var w = BaseLayer.Weight;
                w.CopyFrom(MergeWeight(w.Detach(), name));
                if (BaseLayer.Bias is { } b) b.CopyFrom(MergeBias(b.Detach(), name));
            }
            _merged.Add(name);
        }
    }

    /// <summary>Subtracts every merged adapter from the base weight, last merged first.</summary>
    public void Unmerge()
    {
        for (int i = _merged.Count - 1; i >= 0; i--)
        {
            using (Autograd.Autograd.NoGrad())
            {
                var w = BaseLayer.Weight;
                w.CopyFrom(UnmergeWeight(w.Detach(), _merged[i]));
                if (BaseLayer.Bias is { } b) b.CopyFrom(UnmergeBias(b.Detach(), _merged[i]));
            }
            _merged.RemoveAt(i);
        }
    }

    /// <summary>Deletes adapter <paramref name="name"/> (it must not be merged).</summary>
    public void DeleteAdapter(string name)
    {
        if (_merged.Contains(name))
            throw new InvalidOperationException($"{GetType().Name}.DeleteAdapter: adapter '{name}' is merged; call Unmerge first");
        _active.Remove(name);
        RemoveAdapter(name);
    }

    /// <summary>Rebuilds a per-adapter container without <paramref name="name"/> (modules cannot be unregistered).</summary>
    protected void RemoveFromDict<T>(string dictName, string name) where T : Module
    {
        var old = (ModuleDict<T>)Child(dictName);
        var rebuilt = new ModuleDict<T>();
        foreach (var key in old.Keys.Where(k => k != name).ToList()) rebuilt.Add(key, old[key]);
        rebuilt.Train(Training);
        ReplaceModule(dictName, rebuilt);
    }
}
