namespace Engine.Peft.Selective;

/// <summary>
/// A LayerNorm or RMSNorm with LN-tuning adapters (PEFT's <c>LNTuningLayer</c>, ln_tuning/layer.py): each adapter is a
/// trainable copy of the norm (<c>ln_tuning_layers.&lt;adapter&gt;</c>) that replaces it in the forward. PEFT swaps the
/// copy and the base on merge; here the copy's values are written into the base and the originals kept for unmerging
/// (the same function, and the saved copy stays the trained one). One adapter at a time runs or merges (PEFT raises
/// otherwise).
/// </summary>
public sealed class LnTuningLayer : AdapterLayer
{
    readonly Dictionary<string, (Tensor Weight, Tensor? Bias)> _beforeMerge = new();

    /// <summary>Wraps <paramref name="norm"/> (a <see cref="LayerNorm"/> or <see cref="RMSNorm"/>).</summary>
    public LnTuningLayer(Module norm) : base(norm)
    {
        if (norm is not (LayerNorm or RMSNorm))
            throw new ArgumentException($"LnTuningLayer: wraps a LayerNorm or RMSNorm, got {norm.GetType().Name}");
    }

    /// <summary>The trainable copy of adapter <paramref name="name"/>.</summary>
    public Module Copy(string name) => ModuleOf<Module>("ln_tuning_layers", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context) =>
        BaseModule.NamedParameters().Select(p => Planned("ln_tuning_layers", p.Name, p.Parameter.Shape));

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context) => AddModule("ln_tuning_layers", context.Name, BaseModule.CopyLeaf());

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        if (adapters.Count != 1)
            throw new NotSupportedException($"LnTuningLayer: {adapters.Count} LN_TUNING adapters are active ([{string.Join(", ", adapters)}]); LN tuning runs one adapter at a time");
        return Copy(adapters[0]).Forward(input);
    }

    /// <inheritdoc/>
    public override bool IsMergeable(string name) => true;

    /// <inheritdoc/>
    public override string? MergeRefusal(string name) => MergedAdapters.FirstOrDefault(m => m != name) is { } other
        ? $"LN tuning merges one adapter at a time and '{other}' is merged; unmerge it first" : null;

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias)
    {
        if (MergeRefusal(name) is { } why) throw new NotSupportedException($"LnTuningLayer.Merge: adapter '{name}' (LN_TUNING): {why}");
        _beforeMerge[name] = (weight.Clone(), bias?.Clone());
        var copy = Copy(name).StateDict();
        return (copy["weight"].Detach(), copy.TryGetValue("bias", out var b) ? b.Detach() : bias);
    }

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias)
    {
        var (w, b) = _beforeMerge[name];
        _beforeMerge.Remove(name);
        return (w, b);
    }
}
