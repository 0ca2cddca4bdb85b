namespace Engine.Peft.Sparse;

/// <summary>
/// A <see cref="Linear"/> with PST adapters (<see cref="PstConfig"/>; AliceMind <c>S4/PST/pst/sparse.py::SparseLinear</c>):
/// W′ = W0 + β U V, S = |W′| + α1 A B + α2 (R 1ᵀ + 1 Cᵀ), y = x (M(S) ⊙ W′)ᵀ + b with M zeroing the
/// <c>num_prune</c> lowest scores. A weight transform. In training mode the mask's gradient is straight-through
/// (<see cref="PstMask"/>), as in the reference; in evaluation mode the mask is a constant, so gradients there are
/// the derivative of the (piecewise constant in S) forward. As a step hook it sets num_prune = ⌊s_t · out · in⌋ after
/// each optimiser step t (the reference's <c>update_network_sparsity</c> after <c>optimizer.step()</c>).
/// Merging replaces the weight by M ⊙ W′ (the reference's <c>convert</c>), which no subtraction undoes: the layer keeps
/// the weight each merge replaced and unmerging puts it back bit for bit (the reference's <c>restore</c>).
/// </summary>
public sealed class PstLayer : WeightTransformAdapterLayer, IStepHook
{
    readonly Dictionary<string, (Tensor Weight, Tensor? Bias)> _beforeMerge = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public PstLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>How many entries of the weight adapter <paramref name="name"/> prunes now.</summary>
    public long PrunedCount(string name) => (long)Buffer("num_prune", name).ToDoubleArray()[0];

    /// <summary>Sets how many entries adapter <paramref name="name"/> prunes (the schedule does this each step).</summary>
    public void SetPrunedCount(string name, long count)
    {
        long numel = (long)OutFeatures * InFeatures;
        if (count < 0 || count > numel) throw new ArgumentOutOfRangeException(nameof(count), $"PstLayer: {count} pruned entries of a [{OutFeatures}, {InFeatures}] weight");
        using var _ = Autograd.Autograd.NoGrad();
        var buffer = Buffer("num_prune", name);
        buffer.CopyFrom(Tensor.FromArray(new long[] { count }, [1]).To(buffer.Device));
    }

    /// <summary>⌊s · out · in⌋, the reference's <c>int(mask_scores.numel() * sparsity)</c>.</summary>
    public long PrunedAt(double sparsity) => (long)Math.Floor((double)OutFeatures * InFeatures * sparsity);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<PstConfig>();
        return
        [
            Planned("weight_U", null, OutFeatures, c.WeightRank), Planned("weight_V", null, c.WeightRank, InFeatures),
            Planned("mask_scores_A", null, OutFeatures, c.MaskRank), Planned("mask_scores_B", null, c.MaskRank, InFeatures),
            Planned("mask_scores_R", null, OutFeatures), Planned("mask_scores_C", null, InFeatures),
            PlannedIntegers("num_prune", null, (long)OutFeatures * InFeatures + 1, 1),
        ];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<PstConfig>();
        var dtype = BaseLayer.Weight.DType;
        var device = BaseLayer.Weight.Device;
        var g = context.Generator;
        // The reference: U, A ~ N(0, 1); V, B, R, C = 0 (so W′ = W0 and S = |W0| at the start).
        AddParameter("weight_U", context.Name, Tensor.Randn([OutFeatures, c.WeightRank], 0, 1, dtype, g).To(device));
        AddParameter("weight_V", context.Name, Tensor.Zeros([c.WeightRank, InFeatures], dtype).To(device));
        AddParameter("mask_scores_A", context.Name, Tensor.Randn([OutFeatures, c.MaskRank], 0, 1, dtype, g).To(device));
        AddParameter("mask_scores_B", context.Name, Tensor.Zeros([c.MaskRank, InFeatures], dtype).To(device));
        AddParameter("mask_scores_R", context.Name, Tensor.Zeros([OutFeatures], dtype).To(device));
        AddParameter("mask_scores_C", context.Name, Tensor.Zeros([InFeatures], dtype).To(device));
        AddBuffer("num_prune", context.Name, Tensor.FromArray(new long[] { PrunedAt(c.InitialSparsity) }, [1]).To(device));
    }

    /// <summary>W′ = W + β U V for adapter <paramref name="name"/>.</summary>
    public Tensor UpdatedWeight(string name, Tensor weight)
    {
        var c = (PstConfig)ConfigOf(name);
        return weight + (Parameter("weight_U", name) * c.WeightBeta).MatMul(Parameter("weight_V", name));
    }

    /// <summary>S = |W′| + α1 A B + α2 (R 1ᵀ + 1 Cᵀ) for the updated weight <paramref name="updated"/>.</summary>
    public Tensor Scores(string name, Tensor updated)
    {
        var c = (PstConfig)ConfigOf(name);
        var lowRank = (Parameter("mask_scores_A", name) * c.MaskAlpha1).MatMul(Parameter("mask_scores_B", name));
        var rowsColumns = (Parameter("mask_scores_R", name).Unsqueeze(1) + Parameter("mask_scores_C", name).Unsqueeze(0)) * c.MaskAlpha2;
        return updated.Abs() + lowRank + rowsColumns;
    }

    /// <summary>The current mask M [out, in] of adapter <paramref name="name"/> for the weight <paramref name="weight"/> (no gradient).</summary>
    public Tensor Mask(string name, Tensor weight)
    {
        using var _ = Autograd.Autograd.NoGrad();
        return PstMask.Of(Scores(name, UpdatedWeight(name, weight)), PrunedCount(name));
    }

    /// <inheritdoc/>
    public override (Tensor Weight, Tensor? Bias) Transform(string name, Tensor weight, Tensor? bias)
    {
        var updated = UpdatedWeight(name, weight);
        var scores = Scores(name, updated);
        var mask = Training ? new PstMask(PrunedCount(name)).Apply(scores) : PstMask.Of(scores.Detach(), PrunedCount(name));
        return (mask * updated, bias);
    }

    /// <summary>Not defined: pruning loses the pruned entries (unmerging restores the kept weight instead).</summary>
    public override (Tensor Weight, Tensor? Bias) InverseTransform(string name, Tensor weight, Tensor? bias) =>
        throw new NotSupportedException($"PstLayer: adapter '{name}' pruned its weight; only the weight kept at merge can undo it");

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias)
    {
        _beforeMerge[name] = (weight.Clone(), bias?.Clone());
        return base.MergeWeights(name, weight, bias);
    }

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias)
    {
        if (!_beforeMerge.Remove(name, out var kept)) throw new InvalidOperationException($"PstLayer: adapter '{name}' has no weight kept from its merge");
        return kept;
    }

    /// <inheritdoc/>
    public void OnStep(int step, PeftModel model)
    {
        foreach (var name in AdapterNames)
            if (model.PeftConfigs.TryGetValue(name, out var c) && c is PstConfig { InferenceMode: false, Schedule: { } schedule })
                SetPrunedCount(name, PrunedAt(schedule.At(step + 1)));
    }
}
