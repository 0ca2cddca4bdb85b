namespace Engine.Peft.Multitask;

/// <summary>
/// A <see cref="Linear"/> with Polyhistor adapters (THE ENGINE'S READING of arXiv:2210.03265; <see cref="PolyhistorConfig"/>):
/// its layer embedding z_layer [e] (<c>polyhistor_layer_embedding</c>, N(0, 1)) conditions the shared hypernetworks
/// (<see cref="PolyhistorHypernetwork"/>) into template kernels per task; with templates (Polyhistor-Lite) its
/// layer-wise scaling kernels S_down [1, d/d_t] and S_up [d/d_t, 1] (<c>polyhistor_scale_down</c>, <c>polyhistor_scale_up</c>,
/// start at ones) scale them to its width d by Kronecker products: W_down = S_down ⊗ T_down [m, d], W_up = S_up ⊗ T_up
/// [d, m]; without templates W_down = T_down and W_up = T_up. For example b of task t_b:
/// y = h + f(h W_down(t_b)^T / √d) W_up(t_b)^T / √m with h = x W0^T + b0. Refuses to merge.
/// </summary>
public sealed class PolyhistorLayer : AdapterLayer
{
    readonly Dictionary<string, PolyhistorHypernetwork> _parts = new(StringComparer.Ordinal);

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public PolyhistorLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The layer embedding [e] of adapter <paramref name="name"/>.</summary>
    public Tensor LayerEmbedding(string name) => Parameter("polyhistor_layer_embedding", name);

    /// <summary>The scaling kernels (S_down [1, d/d_t], S_up [d/d_t, 1]) of adapter <paramref name="name"/>, or null without templates.</summary>
    public (Tensor Down, Tensor Up)? ScalingKernels(string name) => ((PolyhistorConfig)ConfigOf(name)).TemplateSize is null ? null
        : (Parameter("polyhistor_scale_down", name), Parameter("polyhistor_scale_up", name));

    /// <summary>The shared hypernetworks of adapter <paramref name="name"/>.</summary>
    public PolyhistorHypernetwork Hypernetwork(string name) => _parts[name];

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<PolyhistorConfig>();
        var plan = new List<PlannedTensor> { Planned("polyhistor_layer_embedding", null, c.EmbeddingDim) };
        if (c.TemplateSize is { } dt)
        {
            if (OutFeatures % dt != 0) throw new ArgumentException($"PolyhistorConfig: template_size {dt} must divide the width {OutFeatures} of '{context.Path.External}'");
            plan.Add(Planned("polyhistor_scale_down", null, 1, OutFeatures / dt));
            plan.Add(Planned("polyhistor_scale_up", null, OutFeatures / dt, 1));
        }
        return plan;
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<PolyhistorConfig>();
        var dtype = BaseLayer.Weight.DType;
        _parts[context.Name] = context.ModelPartAs<PolyhistorHypernetwork>();
        SetState(context.Name, c.Activation);
        AddParameter("polyhistor_layer_embedding", context.Name, Tensor.Randn([c.EmbeddingDim], 0, 1, dtype, context.Generator));
        if (c.TemplateSize is { } dt)
        {
            AddParameter("polyhistor_scale_down", context.Name, Tensor.Ones([1, OutFeatures / dt], dtype));
            AddParameter("polyhistor_scale_up", context.Name, Tensor.Ones([OutFeatures / dt, 1], dtype));
        }
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _parts.Remove(name);

    /// <summary>The generated weights for every task: W_down [n_tasks, m, d] and W_up [n_tasks, d, m].</summary>
    public (Tensor Down, Tensor Up) GeneratedWeights(string name)
    {
        var (down, up) = _parts[name].Templates(LayerEmbedding(name));
        if (ScalingKernels(name) is not var (sd, su)) return (down, up);
        int n = down.Size(0), m = down.Size(1), dt = down.Size(2), q = OutFeatures / dt;
        // Kronecker products per task: (S ⊗ T)[i·a + ii, j·b + jj] = S[i, j] T[ii, jj].
        var wd = (sd.Reshape(1, 1, q, 1) * down.Reshape(n, m, 1, dt)).Reshape(n, m, q * dt);
        var wu = (su.Reshape(1, q, 1, 1) * up.Reshape(n, 1, dt, m)).Reshape(n, q * dt, m);
        return (wd, wu);
    }

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var h = BaseLayer.Forward(input);
        var result = h;
        foreach (var name in adapters) result = result + Contribution(name, h);
        return result;
    }

    Tensor Contribution(string name, Tensor h)
    {
        if (h.Rank < 2) throw new ArgumentException($"PolyhistorLayer: the input needs a batch dimension [batch, ..., {InFeatures}], got {Shapes.Format(h.Shape)}");
        var c = (PolyhistorConfig)ConfigOf(name);
        int batch = h.Size(0), d = OutFeatures;
        int positions = (int)(h.Numel / ((long)batch * d));
        var ids = TaskIds.Resolve(c, "Polyhistor", name, batch);
        var (down, up) = GeneratedWeights(name);
        var index = Tensor.FromArray(ids.Select(t => (long)t).ToArray()).To(down.Device);
        var wd = down.IndexSelect(0, index).To(h.DType);                                         // [B, m, d]
        var wu = up.IndexSelect(0, index).To(h.DType);                                           // [B, d, m]
        var z = h.Reshape(batch, positions, d).MatMul(wd.Transpose(1, 2)) * (1 / Math.Sqrt(d));
        z = State<string>(name) switch { "relu" => z.Relu(), "tanh" => z.Tanh(), _ => z.Gelu() };
        var y = z.MatMul(wu.Transpose(1, 2)) * (1 / Math.Sqrt(c.BottleneckSize));
        return y.Reshape(h.Shape);
    }

    /// <inheritdoc/>
    public override string? MergeRefusal(string name) => "Polyhistor's adapters are non-linear and generated per task; there is no weight to merge";
}
