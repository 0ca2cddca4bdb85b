namespace Engine.Peft.Prompt;

/// <summary>
/// A cartridge's model-level part (PEFT's <c>CartridgeEncoder</c>, peft/tuners/cartridge/model.py): the frozen rows
/// (a buffer, <c>frozen_embedding</c> [f, layers * 2 * kv width]) and the trainable rows (a parameter, [n − f, ...]) of a
/// KV prefix in prefix tuning's layout, served through <see cref="PrefixTuning.LayerPrefixes(Tensor, PrefixGeometry, int)"/>.
/// Saving writes their concatenation as <c>prompt_embeddings</c> (PEFT's <c>weight</c>).
/// </summary>
public sealed class Cartridge : AdapterModelPart, IInputAdapter, ISharedTensorOwner, ISaveTransform
{
    /// <summary>The key of the file's tensor (frozen rows then trainable rows), and of the trainable rows in the adapter.</summary>
    public const string FileKey = "prompt_embeddings", TrainableKey = "prompt_embeddings";

    /// <summary>The adapter's key of the frozen rows (joined into <see cref="FileKey"/> when saving).</summary>
    public const string FrozenKey = "frozen_embedding";

    readonly PrefixGeometry _geometry;

    /// <summary>Creates the rows from N(0, 1) or from the base model's KV cache of the config's text.</summary>
    public Cartridge(AdapterModelPartContext context) : base(context)
    {
        var c = (CartridgeConfig)context.Config;
        _geometry = PrefixTuning.Geometry(context);
        int n = c.NumVirtualTokens, f = c.NumFrozenTokens, width = _geometry.Layers * 2 * _geometry.KvWidth;
        var dtype = context.Model.Model.Parameters().FirstOrDefault()?.DType ?? DType.Float32;
        var table = c.InitTokenIds is { } ids && !context.FromFile
            ? FromText(context.Model, ids, n)
            : Tensor.Randn([n, width], 0, 1, dtype, context.CreateGenerator());
        if (f > 0) RegisterBuffer(FrozenKey, table.Narrow(0, 0, f).Contiguous());
        RegisterParameter("trainable_embedding", table.Narrow(0, f, n - f).Contiguous());
    }

    /// <summary>The adapter's tensors, without creating them: the trainable rows [n − f, width] and the frozen rows [f, width].</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context)
    {
        var c = (CartridgeConfig)context.Config;
        var g = PrefixTuning.Geometry(context);
        int width = g.Layers * 2 * g.KvWidth;
        var plan = new List<PlannedTensor> { new(TrainableKey, [c.NumVirtualTokens - c.NumFrozenTokens, width]) };
        if (c.NumFrozenTokens > 0) plan.Add(new(FrozenKey, [c.NumFrozenTokens, width]));
        return plan;
    }

    /// <summary>
    /// The first <paramref name="n"/> cached positions of the base model run on <paramref name="ids"/> (adapters
    /// disabled), as rows [n, layers * 2 * kv width] in prefix tuning's layout: PEFT's
    /// <c>prompt_embeddings_from_past_key_values</c> (row t = per layer the keys of t over the heads, then the values).
    /// </summary>
    public static Tensor FromText(PeftModel model, IReadOnlyList<long> ids, int n)
    {
        var causal = model.Model as IKvCacheModel
            ?? throw new NotSupportedException($"Cartridge: initialising from a text needs a model that implements IKvCacheModel; {model.Model.GetType().Name} does not");
        if (ids.Count < n) throw new ArgumentException($"Cartridge: the text has {ids.Count} tokens, the cartridge needs {n}");
        var cache = causal.CreateCache();
        using (model.DisableAdapters())
        using (Autograd.Autograd.NoGrad())
            causal.Forward(Tensor.FromArray(ids.ToArray()).Reshape(1, ids.Count), cache);
        var rows = new List<Tensor>();
        for (int l = 0; l < cache.Layers; l++)
        {
            var layer = (LayerKvCache)cache[l];
            // [1, H, T, D] → [n, H·D]: position t's keys over the heads.
            foreach (var t in new[] { layer.Keys!, layer.Values! })
                rows.Add(t.Select(0, 0).Narrow(1, 0, n).Transpose(0, 1).Reshape(n, -1));
        }
        return Tensor.Concat(rows.ToArray(), 1).Contiguous();
    }

    /// <summary>The trainable rows [n − f, width].</summary>
    public Tensor Trainable => GetParameter("trainable_embedding");

    /// <summary>The frozen rows [f, width], or null when none are frozen.</summary>
    public Tensor? Frozen => NamedBuffers().FirstOrDefault(b => b.Name == FrozenKey).Buffer;

    /// <inheritdoc/>
    public int VirtualTokens => Trainable.Size(0) + (Frozen?.Size(0) ?? 0);

    /// <summary>The whole prefix [n, width]: the frozen rows, then the trainable ones (PEFT's <c>weight</c>).</summary>
    public Tensor Prefixes() => Frozen is { } frozen ? Tensor.Concat([frozen, Trainable], 0) : Trainable;

    /// <inheritdoc/>
    public Tensor Forward(PeftModel model, Tensor input) =>
        ((IPrefixableModel)model.Model).ForwardWithPrefix(input, PrefixTuning.LayerPrefixes(Prefixes(), _geometry, input.Size(0)));

    /// <inheritdoc/>
    public KvCache CreateCache(PeftModel model, int batch) => PrefixTuning.CreateCache(model, PrefixTuning.LayerPrefixes(Prefixes(), _geometry, batch), "Cartridge");

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors()
    {
        yield return new(TrainableKey, Trainable, true, true);
        if (Frozen is { } frozen) yield return new(FrozenKey, frozen, true, false);
    }

    /// <summary>Writes the frozen and trainable rows as one <c>prompt_embeddings</c>, as PEFT.</summary>
    public (PeftConfig Config, Dictionary<string, Tensor> Tensors) ForSaving(PeftModel model, PeftConfig config, Dictionary<string, Tensor> tensors, bool convertToLora)
    {
        var trainable = tensors[TrainableKey];
        if (tensors.Remove(FrozenKey, out var frozen)) tensors[FileKey] = Tensor.Concat([frozen, trainable], 0).Contiguous();
        return (config, tensors);
    }
}
