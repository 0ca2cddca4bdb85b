namespace Engine.Peft.Selective;

/// <summary>
/// An <see cref="Embedding"/> with trainable-tokens adapters (PEFT's <c>TrainableTokensLayer</c>,
/// trainable_tokens/layer.py): the table E' is the base table with the rows of each active adapter's token indices
/// replaced by its <c>trainable_tokens_delta</c> [k, dim] (PEFT's index_copy), and lookups read E'. Every other row is
/// the base row itself, bit for bit. As an <see cref="IEmbeddingTable"/> it gives E' to a head tied to the embedding
/// (PEFT ties a second layer on lm_head to this one). Merging writes the rows into the base weight and keeps the
/// originals for unmerging (PEFT's non-persistent <c>trainable_tokens_original</c>, not saved here either).
/// </summary>
public sealed class TrainableTokensLayer : AdapterLayer, IEmbeddingTable
{
    readonly Dictionary<string, Tensor> _beforeMerge = new();

    /// <summary>Wraps <paramref name="embedding"/>.</summary>
    public TrainableTokensLayer(Embedding embedding) : base(embedding) { }

    sealed record TokenRows(long[] Indices);

    /// <summary>The token ids of adapter <paramref name="name"/>.</summary>
    public IReadOnlyList<long> TokenIndices(string name) => State<TokenRows>(name).Indices;

    /// <summary>The rows of adapter <paramref name="name"/> [k, dim].</summary>
    public Tensor Rows(string name) => Parameter("trainable_tokens_delta", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var indices = Checked(context);
        return [Planned("trainable_tokens_delta", null, indices.Length, BaseWeight.Size(1))];
    }

    long[] Checked(AdapterContext context)
    {
        var indices = context.ConfigAs<TrainableTokensConfig>().TokenIndices.Select(i => (long)i).ToArray();
        int count = BaseWeight.Size(0);
        if (indices.FirstOrDefault(i => i >= count, -1) is var bad and >= 0)
            throw new ArgumentException($"TrainableTokensLayer: token index {bad} is outside the {count} rows of '{context.Path.External}'");
        return indices;
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var indices = Checked(context);
        var weight = BaseWeight.Detach();
        Tensor rows;
        using (Autograd.Autograd.NoGrad())
            rows = context.ConfigAs<TrainableTokensConfig>().InitWeights
                ? weight.IndexSelect(0, Tensor.FromArray(indices).To(weight.Device)).Clone()
                : Tensor.Randn([indices.Length, weight.Size(1)], 0, 1, weight.DType, context.Generator).To(weight.Device);
        SetState(context.Name, new TokenRows(indices));
        AddParameter("trainable_tokens_delta", context.Name, rows);
    }

    /// <summary>The table the lookups use now: the base weight with the rows of the active, unmerged adapters replaced.</summary>
    public Tensor Table
    {
        get
        {
            var adapters = Disabled ? [] : ActiveAdapters.Where(a => !MergedAdapters.Contains(a)).ToList();
            return adapters.Count == 0 ? BaseWeight : Replaced(BaseWeight, adapters.Select(a => (TokenIndices(a), Rows(a))).ToList());
        }
    }

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters) =>
        Replaced(BaseWeight, adapters.Select(a => (TokenIndices(a), Rows(a))).ToList()).Embedding(input);

    // W with rows idx replaced by R: where(row in idx, zeros.index_add(idx, R), W). Untouched rows are W's own values,
    // and replaced rows are R's (0 + r is exact), with R's gradient the selected rows of the output gradient.
    static Tensor Replaced(Tensor weight, IReadOnlyList<(IReadOnlyList<long> Indices, Tensor Rows)> adapters)
    {
        var seen = new HashSet<long>();
        foreach (var (indices, _) in adapters)
            foreach (var i in indices)
                if (!seen.Add(i))
                    throw new NotSupportedException($"TrainableTokensLayer: token {i} belongs to more than one of the adapters used together; TRAINABLE_TOKENS adapters must have disjoint token_indices (as PEFT)");
        var result = weight;
        foreach (var (indices, rows) in adapters)
        {
            var index = Tensor.FromArray(indices.ToArray()).To(weight.Device);
            var mask = new bool[weight.Size(0)];
            foreach (var i in indices) mask[i] = true;
            var rowMask = Tensor.FromArray(mask).Reshape(weight.Size(0), 1).To(weight.Device);
            result = Tensor.Where(rowMask, weight.ZerosLike().IndexAdd(0, index, rows.To(weight.DType)), result);
        }
        return result;
    }

    /// <inheritdoc/>
    public override bool IsMergeable(string name) => true;

    /// <inheritdoc/>
    public override string? MergeRefusal(string name) =>
        MergedAdapters.Where(m => m != name).FirstOrDefault(m => TokenIndices(m).Intersect(TokenIndices(name)).Any()) is { } other
            ? $"its token_indices overlap those of the merged adapter '{other}'; merged TRAINABLE_TOKENS adapters must have disjoint token_indices" : null;

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias)
    {
        if (MergeRefusal(name) is { } why) throw new NotSupportedException($"TrainableTokensLayer.Merge: adapter '{name}' (TRAINABLE_TOKENS): {why}");
        var indices = TokenIndices(name);
        _beforeMerge[name] = weight.IndexSelect(0, Tensor.FromArray(indices.ToArray()).To(weight.Device)).Clone();
        return (Replaced(weight, [(indices, Rows(name).Detach())]), bias);
    }

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias)
    {
        var originals = _beforeMerge[name];
        _beforeMerge.Remove(name);
        return (Replaced(weight, [(TokenIndices(name), originals)]), bias);
    }
}
