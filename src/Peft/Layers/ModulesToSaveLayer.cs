namespace Engine.Peft;

/// <summary>
/// PEFT's <c>modules_to_save</c> (its <c>ModulesToSaveWrapper</c>): a module that an adapter trains fully, as its own
/// copy per adapter (<c>modules_to_save.&lt;adapter&gt;</c>) so the original under <c>base_layer</c> never changes.
/// The first active adapter with a copy runs; disabled, deleted or without one, the original runs. Files hold the
/// copy's tensors under the module's own keys (<c>base_model.model.&lt;path&gt;.weight</c>). Merging writes the copy's
/// weights into the original (kept for unmerging). Any adapter method can list modules to save; layers without
/// sub-modules only (a head, a norm, an embedding).
/// </summary>
public sealed class ModulesToSaveLayer : AdapterLayer
{
    readonly Dictionary<string, (Tensor Weight, Tensor? Bias)> _beforeMerge = new();

    /// <summary>Wraps <paramref name="module"/>.</summary>
    public ModulesToSaveLayer(Module module) : base(module) { }

    /// <summary>The trained copy of adapter <paramref name="name"/>.</summary>
    public Module Copy(string name) => ModuleOf<Module>("modules_to_save", name);

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        Module copy;
        try { copy = BaseModule.CopyLeaf(); }
        catch (NotSupportedException e) { throw new ArgumentException($"modules_to_save '{context.Path.External}': {e.Message}", e); }
        AddModule("modules_to_save", context.Name, copy);
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context) =>
        BaseModule.NamedParameters().Select(p => Planned("modules_to_save", p.Name, p.Parameter.Shape))
            .Concat(BaseModule.NamedBuffers().Select(b => Planned("modules_to_save", b.Name, b.Buffer.Shape)));

    /// <inheritdoc/>
    protected override string FileKey(string container, string? member) => member ?? container;

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters) => Copy(adapters[0]).Forward(input);

    /// <inheritdoc/>
    public override bool IsMergeable(string name) => true;

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias)
    {
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
