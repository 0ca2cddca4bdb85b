namespace Engine.Peft.Prompt;

/// <summary>
/// Prefix tuning's model-level part (PEFT's <c>PrefixEncoder</c>): a trainable table [n, layers * 2 * kv width], or,
/// with the projection while training, a table [n, kv width] passed through Linear → tanh → Linear (Li and Liang 2021,
/// section 4.3); the forward that starts every attention layer with the prefixes, and the decoding cache.
/// The MLP's input width is the key/value width (smaller than the model width under grouped-query attention), its
/// hidden width the encoder hidden size (the model width by default).
/// </summary>
public sealed class PrefixTuning : AdapterModelPart, IInputAdapter, ISharedTensorOwner
{
    readonly PrefixGeometry _geometry;

    /// <summary>Creates the table (and MLP) for the model's attention geometry.</summary>
    public PrefixTuning(AdapterModelPartContext context) : base(context)
    {
        var c = (PrefixTuningConfig)context.Config;
        _geometry = Geometry(context);
        int outWidth = _geometry.Layers * 2 * _geometry.KvWidth;
        Projection = UsesProjection(context);
        var generator = context.CreateGenerator();
        var table = Tensor.Zeros(c.NumVirtualTokens, Projection ? _geometry.KvWidth : outWidth);
        if (c.InitWeights != "zero") Init.Normal(table, 0, 1, generator);
        // The prefixes join the model's keys and values, so they take the model's dtype (a Float64 model, say).
        var dtype = context.Model.Model.Parameters().FirstOrDefault()?.DType ?? DType.Float32;
        RegisterParameter("embedding", table.To(dtype));
        if (Projection)
        {
            int hidden = c.EncoderHiddenSize ?? _geometry.Width;
            var last = new Linear(hidden, outWidth, true, generator);
            if (c.InitWeights == "zero") { Init.Zeros(last.Weight); Init.Zeros(last.Bias!); }
            RegisterModule("transform", new Sequential(new Linear(_geometry.KvWidth, hidden, true, generator), new Tanh(), last).To(dtype));
        }
    }

    /// <summary>True when the prefixes come from the MLP.</summary>
    public bool Projection { get; }

    /// <summary>The tensors of <paramref name="context"/> under their file keys, without creating them: the final prefixes [n, layers 2 kv width].</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context)
    {
        var g = Geometry(context);
        return [new("prompt_embeddings", [((PrefixTuningConfig)context.Config).NumVirtualTokens, g.Layers * 2 * g.KvWidth])];
    }

    // A file holds the final prefixes, which PEFT uses directly at inference: no MLP then.
    static bool UsesProjection(AdapterModelPartContext context) =>
        context.Config is PrefixTuningConfig { PrefixProjection: true, InferenceMode: false } && !context.FromFile;

    /// <summary>The attention geometry of the model of <paramref name="context"/> (an <see cref="IPrefixableModel"/>).</summary>
    public static PrefixGeometry Geometry(AdapterModelPartContext context) => (context.Model.Model as IPrefixableModel
        ?? throw new NotSupportedException($"PrefixTuning: prefix tuning needs a model that implements IPrefixableModel; {context.Model.Model.GetType().Name} does not")).PrefixGeometry;

    /// <summary>The trainable table.</summary>
    public Tensor Embedding => GetParameter("embedding");

    /// <inheritdoc/>
    public int VirtualTokens => Embedding.Size(0);

    /// <summary>The prefixes [n, layers * 2 * kv width].</summary>
    public Tensor Prefixes() => Projection ? Child("transform").Forward(Embedding) : Embedding;

    /// <summary>Per layer, keys and values [batch, kv heads, n, head dim].</summary>
    public IReadOnlyList<(Tensor Keys, Tensor Values)> LayerPrefixes(int batch) => LayerPrefixes(Prefixes(), _geometry, batch);

    /// <summary>
    /// Per layer, keys and values [batch, kv heads, n, head dim] of <paramref name="table"/> [n, layers * 2 * kv width]
    /// in PEFT's layout (prefix tuning's and cartridges' <c>past_key_values</c>).
    /// </summary>
    public static IReadOnlyList<(Tensor Keys, Tensor Values)> LayerPrefixes(Tensor table, PrefixGeometry geometry, int batch)
    {
        int n = table.Size(0), heads = geometry.KvHeads, dim = geometry.HeadDim;
        var prefixes = table.Reshape(n, geometry.Layers * 2, heads, dim);
        // [n, H, D] → [B, H, n, D]; layer i takes index 2i as keys and 2i + 1 as values (PEFT's split of past_key_values).
        Tensor Heads(int index) => prefixes.Select(1, index).Transpose(0, 1).Unsqueeze(0).Expand(batch, heads, n, dim);
        return Enumerable.Range(0, geometry.Layers).Select(l => (Heads(2 * l), Heads(2 * l + 1))).ToList();
    }

    /// <inheritdoc/>
    public Tensor Forward(PeftModel model, Tensor input) => ((IPrefixableModel)model.Model).ForwardWithPrefix(input, LayerPrefixes(input.Size(0)));

    /// <inheritdoc/>
    public KvCache CreateCache(PeftModel model, int batch) => CreateCache(model, LayerPrefixes(batch), "PrefixTuning");

    /// <summary>A decoding cache that starts with <paramref name="prefixes"/>; <paramref name="method"/> names the caller in the message.</summary>
    public static KvCache CreateCache(PeftModel model, IReadOnlyList<(Tensor Keys, Tensor Values)> prefixes, string method)
    {
        if (model.Model is not IKvCacheModel)
            throw new NotSupportedException($"{method}: generation needs a model that implements IKvCacheModel; {model.Model.GetType().Name} does not");
        return new KvCache(prefixes.Select(p => (IMixerState)new LayerKvCache(p.Keys, p.Values)));
    }

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors()
    {
        // PEFT writes the final prefixes (after the MLP when there is one) under one key without prefix.
        yield return new("prompt_embeddings", Projection ? Prefixes().Detach() : Embedding, true, !Projection);
    }
}
