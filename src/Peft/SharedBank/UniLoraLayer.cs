namespace Engine.Peft.SharedBank;

/// <summary>
/// A <see cref="Linear"/> with UniLoRA adapters (PEFT's <c>unilora/layer.py</c>): A = θ[idx_A] * scale_A [r, in] and
/// B = θ[idx_B] * scale_B [out, r] with frozen indices (<c>unilora_indices_A</c>, <c>unilora_indices_B</c>, Int64) and
/// scales (<c>unilora_scales_A</c>, <c>unilora_scales_B</c>) from <see cref="UniLoraTheta"/>; ΔW = B A (no scale),
/// y = x W0^T + b0 + (dropout(x) A^T) B^T. The adapter changes the model from the start.
/// </summary>
public sealed class UniLoraLayer : AdditiveAdapterLayer
{
    readonly Dictionary<string, UniLoraTheta> _theta = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public UniLoraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>A [r, in].</summary>
    public Tensor A(string name) => Gathered(name, "unilora_indices_A", "unilora_scales_A");

    /// <summary>B [out, r].</summary>
    public Tensor B(string name) => Gathered(name, "unilora_indices_B", "unilora_scales_B");

    Tensor Gathered(string name, string indices, string scales)
    {
        var index = Buffer(indices, name);
        return _theta[name].Theta.IndexSelect(0, index.Reshape(-1)).Reshape(index.Shape) * Buffer(scales, name);
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<UniLoraConfig>();
        return [PlannedIntegers("unilora_indices_A", null, c.ThetaDLength, c.R, InFeatures), PlannedIntegers("unilora_indices_B", null, c.ThetaDLength, OutFeatures, c.R),
            Planned("unilora_scales_A", null, c.R, InFeatures), Planned("unilora_scales_B", null, OutFeatures, c.R)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<UniLoraConfig>();
        var dtype = BaseLayer.Weight.DType;
        var theta = context.ModelPartAs<UniLoraTheta>();
        _theta[context.Name] = theta;
        var (a, b, scaleA, scaleB) = theta.Assignment(context.Path);
        AddDropout("unilora_dropout", context.Name, c.UniloraDropout, context.Generator);
        AddBuffer("unilora_indices_A", context.Name, Tensor.FromArray(a, [c.R, InFeatures]));
        AddBuffer("unilora_indices_B", context.Name, Tensor.FromArray(b, [OutFeatures, c.R]));
        AddBuffer("unilora_scales_A", context.Name, Tensor.FromArray(scaleA, [c.R, InFeatures]).To(dtype));
        AddBuffer("unilora_scales_B", context.Name, Tensor.FromArray(scaleB, [OutFeatures, c.R]).To(dtype));
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _theta.Remove(name);

    /// <summary>B A [out, in].</summary>
    public override Tensor DeltaWeight(string name) => B(name) % A(name);

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) => LinearMap(LinearMap(x, A(name)), B(name));
}
