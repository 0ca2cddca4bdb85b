namespace Engine.Peft.SharedBasis;

/// <summary>
/// A <see cref="Linear"/> with AdaMSS adapters (PEFT's <c>adamss/layer.py</c>): with x̃ = [x, 1] (just x when the
/// base has no bias), the rows of cluster i of the output get B_i A_i newB x̃, so [ΔW | Δb] has the rows
/// B_i A_i newB at the cluster's positions. newB [R, in(+1)] (<c>adamss_newB</c>, frozen), A_i [r_i, R]
/// (<c>adamss_A.i</c>) and B_i [|seg_i|, r_i] (<c>adamss_B.i</c>) train. The cluster of each output row is the
/// engine's <c>adamss_assignment</c> [out] (int64): PEFT recomputes it at load and does not save it, so only files
/// that hold it load, and their sizes (R, K, r_i, |seg_i|) come from the file's shapes (<see cref="AdapterContext.FileShapes"/>).
/// PEFT has no bias-free form (its forward always appends the 1); the engine's is an extension.
/// </summary>
public sealed class AdamssLayer : AdditiveAdapterLayer
{
    /// <summary>The engine's file key of the cluster assignment.</summary>
    public const string AssignmentKey = "adamss_assignment";

    // The trainable factors of one adapter under PEFT's ParameterList keys (adamss_A.0, adamss_A.1, ...).
    sealed class Factors : Module
    {
        public Factors(IReadOnlyList<Tensor> values)
        {
            for (int i = 0; i < values.Count; i++) RegisterParameter(i.ToString(System.Globalization.CultureInfo.InvariantCulture), values[i]);
            Count = values.Count;
        }

        public int Count { get; }

        public Tensor this[int i] => GetParameter(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    // Per adapter: the row order of the concatenated clusters (PEFT's scatter_index inverted), built on first use
    // because a loaded assignment is copied in after the adapter is built.
    readonly Dictionary<string, Tensor?> _rowOrder = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public AdamssLayer(Linear baseLayer) : base(baseLayer) { }

    int Columns => InFeatures + (BaseBias is null ? 0 : 1);

    /// <summary>The number of subspaces K of adapter <paramref name="name"/>.</summary>
    public int SubspaceCount(string name) => ModuleOf<Factors>("adamss_A", name).Count;

    /// <summary>A_i [r_i, R].</summary>
    public Tensor A(string name, int i) => ModuleOf<Factors>("adamss_A", name)[i];

    /// <summary>B_i [|seg_i|, r_i].</summary>
    public Tensor B(string name, int i) => ModuleOf<Factors>("adamss_B", name)[i];

    /// <summary>newB [R, in(+1)]: the top right singular vectors of [W | b] when the adapter was made.</summary>
    public Tensor NewB(string name) => Buffer("adamss_newB", name);

    /// <summary>The cluster of each output row [out] (int64).</summary>
    public Tensor Assignment(string name) => Buffer(AssignmentKey, name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var (r, ranks, sizes) = Sizes(context);
        var plan = new List<PlannedTensor> { Planned("adamss_newB", null, r, Columns), PlannedIntegers(AssignmentKey, null, ranks.Length, OutFeatures) };
        for (int i = 0; i < ranks.Length; i++) plan.Add(Planned("adamss_A", I(i), ranks[i], r));
        for (int i = 0; i < ranks.Length; i++) plan.Add(Planned("adamss_B", I(i), sizes[i], ranks[i]));
        return plan;
    }

    static string I(int i) => i.ToString(System.Globalization.CultureInfo.InvariantCulture);

    Tensor Augmented()
    {
        var w = BaseWeight.Detach().To(DType.Float64);
        return BaseBias is { } b ? Tensor.Concat([w, b.Detach().To(DType.Float64).Unsqueeze(1)], 1) : w;
    }

    Generator ClusterGenerator(AdapterContext context) =>
        AdapterContext.GeneratorFor(context.ConfigAs<AdamssConfig>().RandomSeed, context.Path.Engine, "adamss_kmeans");

    // R, the r_i and the |seg_i|: from the file's shapes when loading one, else from the decomposition.
    (int R, int[] Ranks, int[] Sizes) Sizes(AdapterContext context)
    {
        if (context.FileShapes is not null && context.FileShape("adamss_A.0") is not null) return FileSizes(context);
        var d = AdamssSubspaces.Build(Augmented(), context.ConfigAs<AdamssConfig>(), ClusterGenerator(context));
        return (d.NewB.Size(0), d.A.Select(a => a.Size(0)).ToArray(), d.Sizes);
    }

    (int R, int[] Ranks, int[] Sizes) FileSizes(AdapterContext context)
    {
        string Key(string suffix) => AdapterFiles.KeyPrefix + context.Path.External + "." + suffix;
        if (context.FileShape(AssignmentKey) is null)
            throw new InvalidDataException($"AdamssLayer: the file has no '{Key(AssignmentKey)}', the cluster of each output row, which PEFT does not save (it reruns torch.svd_lowrank and sklearn's KMeans at load, which the engine cannot reproduce); only AdaMSS adapters saved by the engine load");
        var ranks = new List<int>();
        var sizes = new List<int>();
        int r = context.FileShape("adamss_A.0")![^1];
        for (int i = 0; context.FileShape("adamss_A." + I(i)) is { } a; i++)
        {
            var b = context.FileShape("adamss_B." + I(i))
                ?? throw new InvalidDataException($"AdamssLayer: the file has '{Key("adamss_A." + I(i))}' but no '{Key("adamss_B." + I(i))}'");
            if (a.Length != 2 || b.Length != 2 || a[1] != r || b[1] != a[0])
                throw new InvalidDataException($"AdamssLayer: '{Key("adamss_A." + I(i))}' {Shapes.Format(a)} and '{Key("adamss_B." + I(i))}' {Shapes.Format(b)} must be [r_i, R = {r}] and [|seg_i|, r_i]");
            ranks.Add(a[0]);
            sizes.Add(b[0]);
        }
        if (sizes.Sum() != OutFeatures)
            throw new InvalidDataException($"AdamssLayer: the rows of '{Key("adamss_B")}.*' add up to {sizes.Sum()}, the layer '{context.Path.External}' has {OutFeatures} outputs");
        return (r, ranks.ToArray(), sizes.ToArray());
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<AdamssConfig>();
        var dtype = BaseWeight.DType;
        Tensor newB, assignment;
        Tensor[] a, b;
        if (context.FileShapes is not null && context.FileShape("adamss_A.0") is not null)
        {
            // Loading: the file's tensors replace these zeros.
            var (r, ranks, sizes) = FileSizes(context);
            newB = Tensor.Zeros([r, Columns], dtype);
            assignment = Tensor.Zeros([OutFeatures], DType.Int64);
            a = ranks.Select(k => Tensor.Zeros([k, r], dtype)).ToArray();
            b = ranks.Select((k, i) => Tensor.Zeros([sizes[i], k], dtype)).ToArray();
        }
        else
        {
            var d = AdamssSubspaces.Build(Augmented(), c, ClusterGenerator(context));
            newB = d.NewB.To(dtype).Contiguous();
            assignment = Tensor.FromArray(d.Assignment.Select(x => (long)x).ToArray(), [OutFeatures]);
            a = d.A.Select(x => x.To(dtype).Contiguous()).ToArray();
            b = d.A.Select((x, i) => c.InitWeights == "orthogonal"
                ? Tensor.Zeros([d.Sizes[i], x.Size(0)], dtype)
                : Tensor.Randn([d.Sizes[i], x.Size(0)], 0, 0.01, dtype, context.Generator)).ToArray();
        }
        var device = BaseWeight.Device;
        AddBuffer("adamss_newB", context.Name, newB.To(device));
        AddBuffer(AssignmentKey, context.Name, assignment.To(device));
        AddModule("adamss_A", context.Name, new Factors(a.Select(t => t.To(device)).ToList()));
        AddModule("adamss_B", context.Name, new Factors(b.Select(t => t.To(device)).ToList()));
        _rowOrder[context.Name] = null;
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _rowOrder.Remove(name);

    // For output row j, its row in the concatenation of the clusters (rows of cluster 0 in order, then cluster 1...).
    Tensor RowOrder(string name)
    {
        if (_rowOrder.TryGetValue(name, out var cached) && cached is not null)
            return cached.Device == BaseWeight.Device ? cached : _rowOrder[name] = cached.To(BaseWeight.Device);
        var labels = Assignment(name).To(DType.Int64).ToArray<long>();
        int k = SubspaceCount(name);
        var position = new long[labels.Length];
        int next = 0;
        for (int i = 0; i < k; i++)
        {
            int count = 0;
            for (int j = 0; j < labels.Length; j++)
                if (labels[j] == i) { position[j] = next++; count++; }
            if (count != B(name, i).Size(0))
                throw new InvalidDataException($"AdamssLayer: adapter '{name}': {AssignmentKey} puts {count} rows in cluster {i}, adamss_B.{i} has {B(name, i).Size(0)}");
        }
        if (next != labels.Length) throw new InvalidDataException($"AdamssLayer: adapter '{name}': {AssignmentKey} has values outside [0, {k})");
        var order = Tensor.FromArray(position, [labels.Length]).To(BaseWeight.Device);
        _rowOrder[name] = order;
        return order;
    }

    /// <summary>M [out, R]: the rows B_i A_i at their clusters' output rows, so that [ΔW | Δb] = M newB.</summary>
    public Tensor RowFactors(string name)
    {
        int k = SubspaceCount(name);
        var blocks = Enumerable.Range(0, k).Select(i => B(name, i).MatMul(A(name, i))).ToArray();
        var stacked = k == 1 ? blocks[0] : Tensor.Concat(blocks, 0);
        return stacked.IndexSelect(0, RowOrder(name));
    }

    /// <summary>[ΔW | Δb] [out, in(+1)] = M newB.</summary>
    public Tensor DeltaAugmented(string name) => RowFactors(name).MatMul(NewB(name));

    /// <inheritdoc/>
    public override Tensor DeltaWeight(string name) => DeltaAugmented(name).Narrow(1, 0, InFeatures);

    /// <summary>Δb [out], or null when the base has no bias.</summary>
    public Tensor? DeltaBias(string name) => BaseBias is null ? null : DeltaAugmented(name).Narrow(1, InFeatures, 1).Reshape(OutFeatures);

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x)
    {
        // x̃ newBᵀ = x newB_Wᵀ + newB_b, then M: never forms [out, in].
        var newB = NewB(name);
        var projected = LinearMap(x, newB.Narrow(1, 0, InFeatures));
        if (BaseBias is not null) projected = projected + newB.Narrow(1, InFeatures, 1).Reshape(newB.Size(0));
        return LinearMap(projected, RowFactors(name));
    }

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias)
    {
        var delta = DeltaAugmented(name).Detach();
        return (weight + delta.Narrow(1, 0, InFeatures), bias is null ? null : bias + delta.Narrow(1, InFeatures, 1).Reshape(OutFeatures));
    }

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias)
    {
        var delta = DeltaAugmented(name).Detach();
        return (weight - delta.Narrow(1, 0, InFeatures), bias is null ? null : bias - delta.Narrow(1, InFeatures, 1).Reshape(OutFeatures));
    }
}
