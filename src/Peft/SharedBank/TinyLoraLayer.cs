namespace Engine.Peft.SharedBank;

/// <summary>
/// A <see cref="Linear"/> with TinyLoRA adapters (PEFT's <c>tinylora/layer.py</c>): frozen A = sqrt(S_r) V_r^T [r, in]
/// and B = U_r sqrt(S_r) [out, r] from the SVD W0 = U S V^T (<c>tinylora_A</c>, <c>tinylora_B</c>, r = min(r, out, in)),
/// frozen P [u, r, r] ~ N(0, 1/r) (<c>tinylora_P</c>), and the group's trainable v [u] (<see cref="TinyLoraVectors"/>):
/// R = Σ_i v_i P_i, ΔW = B R A, y = x W0^T + b0 + ((dropout(x) A^T) R^T) B^T.
/// </summary>
public sealed class TinyLoraLayer : AdditiveAdapterLayer
{
    readonly Dictionary<string, (TinyLoraVectors Part, int Index)> _vectors = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public TinyLoraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>Frozen A [r, in].</summary>
    public Tensor A(string name) => Buffer("tinylora_A", name);

    /// <summary>Frozen B [out, r].</summary>
    public Tensor B(string name) => Buffer("tinylora_B", name);

    /// <summary>Frozen P [u, r, r].</summary>
    public Tensor P(string name) => Buffer("tinylora_P", name);

    /// <summary>The trainable v [u] this layer uses (shared within its group).</summary>
    public Tensor V(string name) => _vectors[name].Part.VectorOf(_vectors[name].Index);

    /// <summary>R = Σ_i v_i P_i [r, r].</summary>
    public Tensor R(string name)
    {
        var p = P(name);
        int u = p.Size(0), r = p.Size(1);
        return (V(name).Reshape(1, u) % p.Reshape(u, r * r)).Reshape(r, r);
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<TinyLoraConfig>();
        int r = Math.Min(c.R, Math.Min(OutFeatures, InFeatures));
        return [Planned("tinylora_A", null, r, InFeatures), Planned("tinylora_B", null, OutFeatures, r), Planned("tinylora_P", null, c.U, r, r)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<TinyLoraConfig>();
        int r = Math.Min(c.R, Math.Min(OutFeatures, InFeatures));
        var dtype = BaseLayer.Weight.DType;
        var part = context.ModelPartAs<TinyLoraVectors>();
        int index = part.IndexOf(context.Path);
        _vectors[context.Name] = (part, index);
        AddDropout("tinylora_dropout", context.Name, c.TinyloraDropout, context.Generator);
        var (u, s, vh) = Linalg.SvdTopK(BaseLayer.Weight.Detach().To(DType.Float64), r);
        var root = s.Sqrt();
        AddBuffer("tinylora_A", context.Name, (root.Unsqueeze(1) * vh).To(dtype).Contiguous());
        AddBuffer("tinylora_B", context.Name, (u * root.Unsqueeze(0)).To(dtype).Contiguous());
        // PEFT seeds each layer's generator with projection_seed + its index among the targets.
        AddBuffer("tinylora_P", context.Name, Tensor.Randn([c.U, r, r], 0, 1 / Math.Sqrt(r), dtype, new Generator(c.ProjectionSeed + (ulong)index)));
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _vectors.Remove(name);

    /// <summary>B R A [out, in].</summary>
    public override Tensor DeltaWeight(string name) => B(name) % R(name) % A(name);

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) => LinearMap(LinearMap(LinearMap(x, A(name)), R(name)), B(name));
}
