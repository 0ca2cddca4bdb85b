namespace Engine.Peft.Structured;

/// <summary>
/// A <see cref="Linear"/> with DeLoRA adapters (PEFT's <c>delora.DeloraLinear</c>): <c>delora_A</c> [r, in],
/// <c>delora_B</c> [out, r], the trainable strength <c>delora_lambda</c> [1] and the frozen, saved column norms of the
/// base weight at creation, <c>delora_w_norm</c> [in]. ΔW = B diag(λ / (r ‖A_i‖ ‖B_:i‖)) A diag(w_norm), each norm
/// clamped to at least 1e-4; the forward applies it factored, ((x ⊙ w_norm) Aᵀ ⊙ scale) Bᵀ. Init: A Kaiming-uniform,
/// B = 0, λ = delora_lambda.
/// </summary>
public sealed class DeloraLayer : AdditiveAdapterLayer
{
    /// <summary>PEFT's floor on the row norms of A and column norms of B.</summary>
    public const double NormFloor = 1e-4;

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public DeloraLayer(Linear baseLayer) : base(baseLayer) { }

    sealed record Settings(int R);

    /// <summary>A [r, in] of adapter <paramref name="name"/>.</summary>
    public Tensor A(string name) => Parameter("delora_A", name);

    /// <summary>B [out, r] of adapter <paramref name="name"/>.</summary>
    public Tensor B(string name) => Parameter("delora_B", name);

    /// <summary>The strength λ [1] of adapter <paramref name="name"/>.</summary>
    public Tensor Lambda(string name) => Parameter("delora_lambda", name);

    /// <summary>The base weight's column norms [in] captured when adapter <paramref name="name"/> was created.</summary>
    public Tensor WeightNorm(string name) => Buffer("delora_w_norm", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int r = Rank(context);
        return [Planned("delora_A", null, r, InFeatures), Planned("delora_B", null, OutFeatures, r),
            Planned("delora_lambda", null, 1), Planned("delora_w_norm", null, InFeatures)];
    }

    int Rank(AdapterContext context)
    {
        int r = context.ConfigAs<DeloraConfig>().RankFor(context.Path);
        if (r < 1) throw new ArgumentException($"DeloraLayer: rank must be positive at '{context.Path.External}', got {r}");
        return r;
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<DeloraConfig>();
        int r = Rank(context);
        var dtype = BaseLayer.Weight.DType;
        var g = context.Generator;
        SetState(context.Name, new Settings(r));
        AddParameter("delora_A", context.Name, KaimingInit.Uniform(r, InFeatures, dtype, g));
        AddParameter("delora_B", context.Name, c.InitWeights ? Tensor.Zeros([OutFeatures, r], dtype) : KaimingInit.Uniform(OutFeatures, r, dtype, g));
        AddParameter("delora_lambda", context.Name, Tensor.Full([1], c.LambdaFor(context.Path), dtype));
        // PEFT captures ‖W_:j‖ once, so a later merge of another adapter does not change this one's update.
        AddBuffer("delora_w_norm", context.Name, BaseLayer.Weight.Detach().Norm(2, [0]).To(dtype));
        AddDropout("delora_dropout", context.Name, c.ModuleDropout, g);
    }

    // λ / (r ‖A_i‖ ‖B_:i‖) [r].
    Tensor Scale(string name)
    {
        var an = A(name).Norm(2, [1]).Clamp(min: NormFloor);
        var bn = B(name).Norm(2, [0]).Clamp(min: NormFloor);
        return Lambda(name) / State<Settings>(name).R / (an * bn);
    }

    /// <summary>B diag(scale) A diag(w_norm) [out, in].</summary>
    public override Tensor DeltaWeight(string name) => (B(name) * Scale(name).Unsqueeze(0)) % A(name) * WeightNorm(name).Unsqueeze(0);

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) =>
        LinearMap(LinearMap(x * WeightNorm(name), A(name)) * Scale(name), B(name));
}
