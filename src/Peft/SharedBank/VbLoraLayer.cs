namespace Engine.Peft.SharedBank;

/// <summary>
/// A <see cref="Linear"/> with VB-LoRA adapters (Li et al. 2024, section 3): logits A [r, in/L, N] and B [out/L, r, N]
/// (<c>vblora_logits_A</c>, <c>vblora_logits_B</c>, N(0, init_logits_std²)) pick top-k admixtures of the shared bank
/// (<see cref="VbLoraBank"/>); A = the [r, in/L, L] sub-vectors as [r, in], B = the [out/L, r, L] sub-vectors
/// transposed to [out/L, L, r] as [out, r], and y = x W0^T + b0 + (dropout(x) A^T) B^T, ΔW = B A (no scale).
/// The adapter changes the model from the start.
/// </summary>
public sealed class VbLoraLayer : AdditiveAdapterLayer
{
    readonly Dictionary<string, VbLoraBank> _banks = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public VbLoraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>Logits of A [r, in/L, N].</summary>
    public Tensor LogitsA(string name) => Parameter("vblora_logits_A", name);

    /// <summary>Logits of B [out/L, r, N].</summary>
    public Tensor LogitsB(string name) => Parameter("vblora_logits_B", name);

    /// <summary>The assembled A [r, in].</summary>
    public Tensor A(string name)
    {
        var logits = LogitsA(name);
        return VbLoraTopK.Admix(logits, _banks[name].Bank, ConfigAs(name).Topk).Reshape(logits.Size(0), InFeatures);
    }

    /// <summary>The assembled B [out, r].</summary>
    public Tensor B(string name)
    {
        var logits = LogitsB(name);
        return VbLoraTopK.Admix(logits, _banks[name].Bank, ConfigAs(name).Topk).Transpose(1, 2).Reshape(OutFeatures, logits.Size(1));
    }

    VbLoraConfig ConfigAs(string name) => (VbLoraConfig)ConfigOf(name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<VbLoraConfig>();
        if (InFeatures % c.VectorLength != 0 || OutFeatures % c.VectorLength != 0)
            throw new ArgumentException($"VbLoraLayer: '{context.Path.External}' is [{OutFeatures}, {InFeatures}]; both widths must be multiples of vector_length {c.VectorLength}");
        return [Planned("vblora_logits_A", null, c.R, InFeatures / c.VectorLength, c.NumVectors),
            Planned("vblora_logits_B", null, OutFeatures / c.VectorLength, c.R, c.NumVectors)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<VbLoraConfig>();
        var shapes = PlanAdapter(context).Select(t => t.Shape).ToList();
        var dtype = BaseLayer.Weight.DType;
        _banks[context.Name] = context.ModelPartAs<VbLoraBank>();
        AddDropout("vblora_dropout", context.Name, c.VbloraDropout, context.Generator);
        AddParameter("vblora_logits_A", context.Name, Tensor.Randn(shapes[0], 0, c.InitLogitsStd, dtype, context.Generator));
        AddParameter("vblora_logits_B", context.Name, Tensor.Randn(shapes[1], 0, c.InitLogitsStd, dtype, context.Generator));
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _banks.Remove(name);

    /// <summary>B A [out, in].</summary>
    public override Tensor DeltaWeight(string name) => B(name) % A(name);

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) => LinearMap(LinearMap(x, A(name)), B(name));
}
