namespace Engine.Peft.Spectral;

/// <summary>
/// A <see cref="Linear"/> with SHiRA adapters (PEFT's <c>shira.Linear</c>): the trainable entries <c>shira_weight</c> [k]
/// sit at <c>shira_indices</c> [2, k] (Int32 rows; columns, in the row-major order of <c>torch.where(mask)</c>), and
/// ΔW = scatter(indices, weight · scale), zero elsewhere; y = x (W + ΔW)ᵀ + b. The default mask is PEFT's
/// random_mask: randperm(out · in)[:k] with torch's generator (<see cref="TorchRandperm"/>). The indices are saved.
/// </summary>
public sealed class ShiraLayer : SparseDeltaAdapterLayer
{
    readonly Dictionary<string, double> _scale = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public ShiraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The trainable entries [k].</summary>
    public Tensor Weight(string name) => Parameter("shira_weight", name);

    /// <summary>The mask's positions [2, k] (Int32): output rows, then input columns.</summary>
    public Tensor Indices(string name) => Buffer("shira_indices", name);

    /// <summary>The scale of ΔW (PEFT's set_scale; 1 in training).</summary>
    public double Scale(string name) => _scale[name];

    /// <summary>Sets the scale of ΔW for inference (PEFT's set_scale).</summary>
    public void SetScale(string name, double scale)
    {
        Weight(name);
        _scale[name] = scale;
    }

    int Count(AdapterContext context)
    {
        int r = context.ConfigAs<ShiraConfig>().R;
        long k = (long)r * (InFeatures + OutFeatures);
        if (r < 1 || k > (long)InFeatures * OutFeatures)
            throw new ArgumentException($"ShiraLayer: r = {r} gives r·(in + out) = {k} entries, more than the {(long)InFeatures * OutFeatures} of the weight at '{context.Path.External}'");
        return (int)k;
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int k = Count(context);
        return [Planned("shira_weight", null, k), PlannedIntegers("shira_indices", null, null, 2, k) with { RowIndexBounds = [OutFeatures, InFeatures] }];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<ShiraConfig>();
        int k = Count(context);
        var flat = Mask(c, k, context.Path, context.FromFile);
        var indices = new int[2 * k];
        for (int i = 0; i < k; i++)
        {
            indices[i] = (int)(flat[i] / InFeatures);
            indices[k + i] = (int)(flat[i] % InFeatures);
        }
        var dtype = BaseLayer.Weight.DType;
        AddParameter("shira_weight", context.Name, c.InitWeights ? Tensor.Zeros([k], dtype) : Tensor.Randn([k], 0, 1, dtype, context.Generator));
        AddBuffer("shira_indices", context.Name, Tensor.FromArray(indices, [2, k]).To(BaseLayer.Weight.Device));
        _scale[context.Name] = 1.0;
    }

    // The mask's flat positions in ascending (row-major) order, as torch.where(mask) lists them. A custom mask_type
    // without mask_fn can only come from a file, whose indices replace the placeholder drawn here.
    long[] Mask(ShiraConfig c, int k, ModulePath path, bool fromFile)
    {
        if (c.MaskFn is null && c.MaskType != "random" && !fromFile)
            throw new ArgumentException($"ShiraLayer: mask_type '{c.MaskType}' at '{path.External}' needs ShiraConfig.MaskFn to create an adapter (PEFT's mask_fn); only \"random\" is built in, and a file's indices load without it");
        if (c.MaskFn is { } fn)
        {
            var mask = fn(BaseLayer, c.R);
            if (mask.Length != (long)OutFeatures * InFeatures)
                throw new ArgumentException($"ShiraLayer: mask_fn gave {mask.Length} entries for the [{OutFeatures}, {InFeatures}] weight at '{path.External}'");
            var set = Enumerable.Range(0, mask.Length).Where(i => mask[i]).Select(i => (long)i).ToArray();
            if (set.Length != k)
                throw new ArgumentException($"ShiraLayer: mask_fn set {set.Length} entries at '{path.External}'; SHiRA needs r·(in + out) = {k}");
            return set;
        }
        var drawn = TorchRandperm.First((long)OutFeatures * InFeatures, k, c.RandomSeed ?? ShiraConfig.TorchDefaultSeed);
        Array.Sort(drawn);
        return drawn;
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _scale.Remove(name);

    /// <inheritdoc/>
    public override Tensor Positions(string name) => SparseDelta.FlatOf(Indices(name), InFeatures);

    /// <summary>ΔW's entries: weight · scale at the mask's positions.</summary>
    public override Tensor SparseValues(string name) => Weight(name) * _scale[name];
}
