namespace Engine.Peft.RandomBasis;

/// <summary>
/// A <see cref="Linear"/> with VeRA adapters (Kopiczko et al. 2024, equation 1): y = x W0^T + b0 +
/// b * ((dropout(x) A_s^T * d) B_s^T), with A_s = A[:, :in] and B_s = B[:out, :] slices of the shared frozen
/// matrices (<see cref="VeraProjections"/>) and trainable d [r] (<c>vera_lambda_d</c>, init d_initial) and b [out]
/// (<c>vera_lambda_b</c>, init 0).
/// </summary>
public sealed class VeraLayer : AdditiveAdapterLayer
{
    readonly Dictionary<string, VeraProjections> _projections = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public VeraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>b [out].</summary>
    public Tensor LambdaB(string name) => Parameter("vera_lambda_b", name);

    /// <summary>d [r].</summary>
    public Tensor LambdaD(string name) => Parameter("vera_lambda_d", name);

    /// <summary>The shared A sliced to this layer: [r, in].</summary>
    public Tensor A(string name) => _projections[name].A.Narrow(1, 0, InFeatures);

    /// <summary>The shared B sliced to this layer: [out, r].</summary>
    public Tensor B(string name) => _projections[name].B.Narrow(0, 0, OutFeatures);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context) =>
        [Planned("vera_lambda_b", null, OutFeatures), Planned("vera_lambda_d", null, context.ConfigAs<VeraConfig>().R)];

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<VeraConfig>();
        var dtype = BaseLayer.Weight.DType;
        _projections[context.Name] = context.ModelPartAs<VeraProjections>();
        AddDropout("vera_dropout", context.Name, c.VeraDropout, context.Generator);
        AddParameter("vera_lambda_b", context.Name, Tensor.Zeros([OutFeatures], dtype));
        AddParameter("vera_lambda_d", context.Name, Tensor.Full([c.R], c.DInitial, dtype));
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _projections.Remove(name);

    /// <summary>diag(b) B_s diag(d) A_s [out, in].</summary>
    public override Tensor DeltaWeight(string name) => (LambdaB(name).Unsqueeze(1) * B(name)) % (LambdaD(name).Unsqueeze(1) * A(name));

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) => LinearMap(LinearMap(x, A(name)) * LambdaD(name), B(name)) * LambdaB(name);
}
