namespace Engine.Peft.Scaling;

/// <summary>
/// A <see cref="Linear"/> with IA3 vectors (Liu et al. 2022, section 3.3), PEFT's <c>ia3_l</c>: feed-forward targets
/// compute y = (x * l) W0^T + b0 with l [1, in]; the others y = (x W0^T + b0) * l with l [out, 1] (stored as PEFT
/// stores them). A weight transform: W0 diag(l), or diag(l) W0 and l * b0; several active adapters multiply. The forward
/// scales activations, which is cheaper than forming the transformed weight.
/// </summary>
public sealed class Ia3Layer : WeightTransformAdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public Ia3Layer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The scaling vector of adapter <paramref name="name"/>: [1, in] for feed-forward targets, else [out, 1].</summary>
    public Tensor Vector(string name) => Parameter("ia3_l", name);

    /// <summary>True when adapter <paramref name="name"/> scales this layer's input.</summary>
    public bool IsFeedforward(string name) => State<Ia3Kind>(name).Feedforward;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context) =>
        [Planned("ia3_l", null, context.ConfigAs<Ia3Config>().IsFeedforward(context.Path) ? [1, InFeatures] : [OutFeatures, 1])];

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<Ia3Config>();
        bool ff = c.IsFeedforward(context.Path);
        SetState(context.Name, new Ia3Kind(ff));
        int[] shape = ff ? [1, InFeatures] : [OutFeatures, 1];
        var dtype = BaseLayer.Weight.DType;
        // PEFT: ones; init_ia3_weights = false gives random values (a non-trivial adapter for tests).
        AddParameter("ia3_l", context.Name, c.InitIa3Weights ? Tensor.Ones(shape, dtype) : Tensor.Rand(shape, 0.5, 1.5, dtype, context.Generator));
    }

    /// <inheritdoc/>
    public override (Tensor Weight, Tensor? Bias) Transform(string name, Tensor weight, Tensor? bias) => IsFeedforward(name)
        ? (weight * Vector(name), bias)
        : (weight * Vector(name), bias is null ? null : bias * Vector(name).Reshape(OutFeatures));

    /// <inheritdoc/>
    public override (Tensor Weight, Tensor? Bias) InverseTransform(string name, Tensor weight, Tensor? bias) => IsFeedforward(name)
        ? (weight / Vector(name), bias)
        : (weight / Vector(name), bias is null ? null : bias / Vector(name).Reshape(OutFeatures));

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var x = input;
        Tensor? outputScale = null;
        foreach (var name in adapters)
        {
            var l = Vector(name);
            if (IsFeedforward(name)) x = x * l.Reshape(InFeatures);
            else outputScale = outputScale is null ? l.Reshape(OutFeatures) : outputScale * l.Reshape(OutFeatures);
        }
        var y = BaseLayer.Forward(x);
        return outputScale is null ? y : y * outputScale;
    }

    sealed record Ia3Kind(bool Feedforward);
}
