namespace Engine.Peft.Routed;

/// <summary>
/// A <see cref="Linear"/> with MoS adapters (arXiv 2410.00938; spec adapters-lowrank.md section 12): the fixed shard
/// indices <c>mos_index_A</c>, <c>mos_index_B</c> (Int64 [r l], drawn by <see cref="MosPools"/>) pick rows of its
/// module type's pools; row j of A_i [r, in] is Pool_A[idx_A[j l]] ++ ... ++ Pool_A[idx_A[j l + l − 1]], column j of
/// B_i [out, r] likewise from Pool_B's columns, and y = x W0^T + b0 + (alpha / r) B_i A_i drop(x). Mergeable.
/// </summary>
public sealed class MosLayer : AdditiveAdapterLayer
{
    readonly Dictionary<string, (MosPools Pools, string Type)> _pools = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public MosLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The shard indices of A [r l].</summary>
    public Tensor IndexA(string name) => Buffer("mos_index_A", name);

    /// <summary>The shard indices of B [r l].</summary>
    public Tensor IndexB(string name) => Buffer("mos_index_B", name);

    /// <summary>The assembled A_i [r, in].</summary>
    public Tensor A(string name)
    {
        var (pools, type) = _pools[name];
        return pools.PoolA(type).IndexSelect(0, IndexA(name)).Reshape(ConfigAs(name).R, InFeatures);
    }

    /// <summary>The assembled B_i [out, r].</summary>
    public Tensor B(string name)
    {
        var (pools, type) = _pools[name];
        return pools.PoolB(type).T.IndexSelect(0, IndexB(name)).Reshape(ConfigAs(name).R, OutFeatures).T;
    }

    MosConfig ConfigAs(string name) => (MosConfig)ConfigOf(name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<MosConfig>();
        if (InFeatures % c.ShardsPerVector != 0 || OutFeatures % c.ShardsPerVector != 0)
            throw new ArgumentException($"MosLayer: '{context.Path.External}' is [{OutFeatures}, {InFeatures}]; both widths must be multiples of shards_per_vector {c.ShardsPerVector}");
        // Index bound: the pools' rows; the law checks the file's indices lie below it when the part is known.
        return [PlannedIntegers("mos_index_A", null, null, c.R * c.ShardsPerVector), PlannedIntegers("mos_index_B", null, null, c.R * c.ShardsPerVector)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<MosConfig>();
        PlanAdapter(context);
        var pools = context.ModelPartAs<MosPools>();
        _pools[context.Name] = (pools, pools.TypeOfLayer(context.Path.Engine));
        var (a, b) = pools.Indices(context.Path.Engine);
        AddDropout("lora_dropout", context.Name, c.LoraDropout, context.Generator);
        AddBuffer("mos_index_A", context.Name, Tensor.FromArray(a, [a.Length]).To(BaseLayer.Weight.Device));
        AddBuffer("mos_index_B", context.Name, Tensor.FromArray(b, [b.Length]).To(BaseLayer.Weight.Device));
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _pools.Remove(name);

    /// <summary>(alpha / r) B_i A_i [out, in].</summary>
    public override Tensor DeltaWeight(string name) => B(name) % A(name) * ConfigAs(name).Scaling;

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) => LinearMap(LinearMap(x, A(name)), B(name)) * ConfigAs(name).Scaling;
}
