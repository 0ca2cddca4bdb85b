namespace Engine.Peft.Sparse;

/// <summary>
/// Family base of methods that fine-tune a fixed subset of a weight's entries (SaRA's small-magnitude entries, a
/// given subnetwork's mask; spec adapters-other.md section 5, structure-and-optimizers.md section 5.2): ΔW is a
/// <see cref="SparseDelta"/> with values [k] (start 0) at the selected flat positions [k] (Int64, saved). Training the
/// values with AdamW is exactly masked AdamW on W[P] (the gradient of ΔW's values is the dense gradient gathered at
/// P), and the entries outside P cannot move. A method names its keys (<see cref="Prefix"/>) and writes
/// <see cref="Select"/>. Entries can be frozen later (SaRA's progressive re-selection): their values are restored
/// after every optimiser step, so they stay bit for bit where they were.
/// </summary>
public abstract class SelectedEntriesLayer : SparseDeltaAdapterLayer, IStepHook
{
    readonly Dictionary<string, (Tensor Index, Tensor Values)> _frozen = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    protected SelectedEntriesLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The key prefix: <c>&lt;prefix&gt;_positions</c>, <c>&lt;prefix&gt;_values</c>.</summary>
    protected abstract string Prefix { get; }

    /// <summary>The flat row-major positions (ascending) the adapter of <paramref name="context"/> trains.</summary>
    protected abstract long[] Select(AdapterContext context);

    string PositionsKey => Prefix + "_positions";

    string ValuesKey => Prefix + "_values";

    /// <summary>The trained values [k] (ΔW at <see cref="Positions"/>).</summary>
    public Tensor Values(string name) => Parameter(ValuesKey, name);

    /// <inheritdoc/>
    public override Tensor Positions(string name) => Buffer(PositionsKey, name);

    /// <inheritdoc/>
    public override Tensor SparseValues(string name) => Values(name);

    // A file's own support size when its positions and values agree (it may come from another base); otherwise the
    // selection's, so that a file with a corrupted tensor fails on that tensor.
    int? FileCount(AdapterContext context) =>
        context.FileShape(PositionsKey) is [var p] && context.FileShape(ValuesKey) is [var v] && p == v ? p : null;

    int Count(AdapterContext context) => FileCount(context) ?? Select(context).Length;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context) => PlannedSparse(PositionsKey, ValuesKey, Count(context));

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        // A file's positions replace the selection (the base it was selected on may differ from this one).
        long[] positions = FileCount(context) is { } k ? new long[k] : Select(context);
        var device = BaseLayer.Weight.Device;
        AddBuffer(PositionsKey, context.Name, Tensor.FromArray(positions, [positions.Length]).To(device));
        AddParameter(ValuesKey, context.Name, Tensor.Zeros([positions.Length], BaseLayer.Weight.DType).To(device));
    }

    /// <summary>
    /// Freezes the entries at indices <paramref name="valueIndices"/> of adapter <paramref name="name"/>'s values where
    /// they are now: from the next optimiser step on they are restored after each step.
    /// </summary>
    public void Freeze(string name, long[] valueIndices)
    {
        var values = Values(name);
        var index = Tensor.FromArray(valueIndices, [valueIndices.Length]).To(values.Device);
        _frozen[name] = (index, values.Detach().IndexSelect(0, index).Clone());
    }

    /// <summary>How many entries of adapter <paramref name="name"/> are frozen.</summary>
    public int FrozenCount(string name) => _frozen.TryGetValue(name, out var f) ? f.Index.Size(0) : 0;

    /// <inheritdoc/>
    public virtual void OnStep(int step, PeftModel model)
    {
        using var _ = Autograd.Autograd.NoGrad();
        foreach (var (name, (index, kept)) in _frozen)
        {
            if (!AdapterNames.Contains(name) || index.Size(0) == 0) continue;
            var values = Values(name);
            // values[index] = kept, bit for bit (a float32 value survives the round trip through double exactly).
            var flat = values.Detach().ToDoubleArray();
            var idx = index.ToArray<long>();
            var keep = kept.ToDoubleArray();
            for (int i = 0; i < idx.Length; i++) flat[idx[i]] = keep[i];
            values.CopyFrom(Tensor.FromArray(flat, [flat.Length]).To(values.DType).To(values.Device));
        }
    }
}
