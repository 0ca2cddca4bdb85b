namespace Engine.Peft.Elementwise;

/// <summary>
/// A <see cref="Linear"/> with BEFT adapters (PEFT's <c>beft.Linear</c>): y = base(x) + Σ β_a, with <c>beft_bias</c>
/// [1, out] (zero by default). A merge adds β to the base bias; a layer without a bias cannot merge (PEFT raises on
/// merge; the engine reports it as not mergeable, naming the method).
/// </summary>
public sealed class BeftLayer : AdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public BeftLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>β [1, out].</summary>
    public Tensor Bias(string name) => Parameter("beft_bias", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context) => [Planned("beft_bias", null, 1, OutFeatures)];

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var dtype = BaseLayer.Weight.DType;
        AddParameter("beft_bias", context.Name, context.ConfigAs<BeftConfig>().InitWeights
            ? Tensor.Zeros([1, OutFeatures], dtype) : Tensor.Randn([1, OutFeatures], 0, 1, dtype, context.Generator));
    }

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        foreach (var name in adapters) result = result + Bias(name).Reshape(OutFeatures);
        return result;
    }

    /// <inheritdoc/>
    public override bool IsMergeable(string name) => BaseLayer.Bias is not null;

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias) =>
        (weight, bias! + Bias(name).Detach().Reshape(OutFeatures));

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias) =>
        (weight, bias! - Bias(name).Detach().Reshape(OutFeatures));
}
