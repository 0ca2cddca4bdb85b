namespace Engine.Peft.Sparse;

/// <summary>
/// A <see cref="Linear"/> with SLTrain adapters (arXiv 2406.02214; andyjm3/SLTrain <c>splora/splora_linear.py</c>;
/// adapters-other.md §3): ΔW = B·(s·A) + S, S = <c>sltrain_value</c> [k] at the fixed flat positions Ω =
/// <c>sltrain_index</c> [k] (Int64, sorted, saved: <see cref="SparseDeltaAdapterLayer"/>), B <c>sltrain_B</c> [out, r],
/// A <c>sltrain_A</c> [r, in], s = α / r or tanh(<c>sltrain_scaling</c>). With <see cref="SltrainConfig.ReplaceWeight"/>
/// (the paper) the adapter IS the weight: y = x ΔWᵀ + b with its own bias <c>sltrain_bias</c>, W0 and b0 ignored; merging
/// writes W = sBA + S (scatter-add) and b into the Linear, unmerging puts the copies of W0 and b0 back. Without it,
/// y = x (W0 + ΔW)ᵀ + b0 and merge/unmerge add and subtract ΔW. The forward is the reference's fused op
/// (<see cref="SltrainFunction"/>: W = BA′, scatter-add of the values, then linear; W formed again in the backward).
/// </summary>
public sealed class SltrainLayer : SparseDeltaAdapterLayer
{
    sealed record Settings(double Scale, bool TrainableScaling, bool Replace);

    readonly Dictionary<string, (Tensor Weight, Tensor? Bias)> _replaced = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public SltrainLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>A [r, in].</summary>
    public Tensor A(string name) => Parameter("sltrain_A", name);

    /// <summary>B [out, r].</summary>
    public Tensor B(string name) => Parameter("sltrain_B", name);

    /// <summary>The adapter's own bias [out] in replace mode (null otherwise, or when the Linear has none).</summary>
    public Tensor? Bias(string name) => State<Settings>(name).Replace && BaseLayer.Bias is not null ? Parameter("sltrain_bias", name) : null;

    /// <summary>True when adapter <paramref name="name"/> replaces the wrapped weight (the paper's form).</summary>
    public bool Replaces(string name) => State<Settings>(name).Replace;

    /// <summary>s·A [r, in].</summary>
    public Tensor ScaledA(string name)
    {
        var s = State<Settings>(name);
        return s.TrainableScaling ? A(name) * Parameter("sltrain_scaling", name).Tanh() : A(name) * s.Scale;
    }

    /// <inheritdoc/>
    public override Tensor Positions(string name) => Buffer("sltrain_index", name);

    /// <inheritdoc/>
    public override Tensor SparseValues(string name) => Parameter("sltrain_value", name);

    /// <summary>B·(s·A) [out, in].</summary>
    public override Tensor? DensePart(string name) => B(name) % ScaledA(name);

    /// <summary>x ΔWᵀ by the fused op (ΔW never kept for the backward).</summary>
    protected override Tensor Contribution(string name, Tensor x)
    {
        var shape = x.Shape;
        shape[^1] = OutFeatures;
        return SltrainFunction.Linear(x.Reshape(-1, InFeatures), B(name), ScaledA(name), SparseValues(name), Positions(name), null).Reshape(shape);
    }

    int Count(AdapterContext context) =>
        SltrainSupport.Count(OutFeatures, InFeatures, context.ConfigAs<SltrainConfig>().SpRatio, context.Path.External);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<SltrainConfig>();
        var planned = new List<PlannedTensor> { Planned("sltrain_A", null, c.R, InFeatures), Planned("sltrain_B", null, OutFeatures, c.R) };
        planned.AddRange(PlannedSparse("sltrain_index", "sltrain_value", Count(context)));
        if (c.ReplaceWeight && BaseLayer.Bias is not null) planned.Add(Planned("sltrain_bias", null, OutFeatures));
        if (c.TrainableScaling) planned.Add(Planned("sltrain_scaling", null, 1));
        return planned;
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<SltrainConfig>();
        int k = Count(context);
        var (dtype, device) = (BaseLayer.Weight.DType, BaseLayer.Weight.Device);
        var g = context.Generator;
        // The reference's order of draws: bias, A, then Ω and its values (B starts at zero).
        Tensor? bias = c.ReplaceWeight && BaseLayer.Bias is not null
            ? Tensor.Rand([OutFeatures], -1 / Math.Sqrt(OutFeatures), 1 / Math.Sqrt(OutFeatures), dtype, g, device) : null;
        AddParameter("sltrain_A", context.Name, KaimingInit.Uniform(c.R, InFeatures, dtype, g).To(device));
        AddParameter("sltrain_B", context.Name, Tensor.Zeros([OutFeatures, c.R], dtype, device));
        AddBuffer("sltrain_index", context.Name, Tensor.FromArray(SltrainSupport.Draw(OutFeatures, InFeatures, k, g), [k]).To(device));
        // Replace mode: the reference's U(±1/√in); fine-tuning: zero, so that the model starts at the base.
        AddParameter("sltrain_value", context.Name, c.ReplaceWeight
            ? Tensor.Rand([k], -1 / Math.Sqrt(InFeatures), 1 / Math.Sqrt(InFeatures), dtype, g, device) : Tensor.Zeros([k], dtype, device));
        if (bias is not null) AddParameter("sltrain_bias", context.Name, bias);
        if (c.TrainableScaling) AddParameter("sltrain_scaling", context.Name, Tensor.Ones([1], dtype, device));
        SetState(context.Name, new Settings(c.LoraAlpha / c.R, c.TrainableScaling, c.ReplaceWeight));
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _replaced.Remove(name);

    /// <summary>
    /// Without replacing adapters, the base output plus each adapter's x ΔWᵀ. With one (the paper's form), the wrapped
    /// weight and bias count as zero: y = Σ over active adapters of x ΔWᵀ, plus each replacing adapter's bias.
    /// </summary>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        if (!adapters.Any(Replaces)) return base.ForwardAdapters(input, adapters);
        Tensor? result = null;
        foreach (var name in adapters)
        {
            var y = Contribution(name, input);
            if (Bias(name) is { } b) y = y + b;
            result = result is null ? y : result + y;
        }
        return result!;
    }

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias)
    {
        if (!Replaces(name)) return base.MergeWeights(name, weight, bias);
        // The paper's merge: the materialised W = sBA + S (scatter-add of the values) and the adapter's bias replace the
        // Linear's; the replaced tensors are kept for unmerge.
        _replaced[name] = (weight.Clone(), bias?.Clone());
        var dense = SparseDelta.AddTo(DensePart(name)!.Detach(), Positions(name), SparseValues(name).Detach());
        return (dense, Bias(name)?.Detach() ?? bias);
    }

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias)
    {
        if (!Replaces(name)) return base.UnmergeWeights(name, weight, bias);
        var (w, b) = _replaced[name];
        _replaced.Remove(name);
        return (w, b);
    }
}
