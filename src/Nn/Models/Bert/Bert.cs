namespace Engine.Nn;

/// <summary>
/// The BERT encoder (Devlin et al. 2019) as Hugging Face's <c>BertModel</c>, with its parameter names
/// (<c>embeddings.word_embeddings.weight</c>, <c>encoder.layer.0.attention.self.query.weight</c>, ...,
/// <c>pooler.dense.weight</c>), so its state dict is a Hugging Face checkpoint's and adapters find PEFT's target names
/// (<c>query</c>, <c>key</c>, <c>value</c>, <c>dense</c>). Load one with <see cref="BertCheckpoint"/> or from ONNX
/// (Engine.Pretrained).
/// <code>var hidden = bert.Forward(ids, attentionMask: mask); // [B, T, H], last hidden state</code>
/// </summary>
public sealed class Bert : Module
{
    /// <summary>A randomly initialised encoder; <paramref name="generator"/> seeds initialisation and dropout.</summary>
    public Bert(BertConfig config, Generator? generator = null)
    {
        config.Validate();
        Config = config;
        RegisterModule("embeddings", new BertEmbeddings(config, generator));
        RegisterModule("encoder", new BertEncoder(config, generator));
        RegisterModule("pooler", new BertPooler(config, generator));
    }

    public BertConfig Config { get; }

    public BertEmbeddings Embeddings => Unwrapped<BertEmbeddings>("embeddings");

    public BertEncoder Encoder => Unwrapped<BertEncoder>("encoder");

    /// <summary>The last hidden state [B, T, H] of token ids [B, T], every token real and of type 0.</summary>
    public override Tensor Forward(Tensor ids) => Forward(ids, null, null);

    /// <summary>
    /// The last hidden state [B, T, H] of token ids [B, T]. <paramref name="attentionMask"/> [B, T] is Hugging Face's:
    /// 1 at real tokens, 0 at padding (no token attends to padding; padding positions still get outputs).
    /// <paramref name="tokenTypeIds"/> [B, T] default to 0.
    /// </summary>
    public Tensor Forward(Tensor ids, Tensor? attentionMask, Tensor? tokenTypeIds = null) =>
        Encode(ids, virtualEmbeddings: null, PaddingMaskOf(ids, attentionMask), tokenTypeIds, prefixes: null);

    /// <summary>The pooler's output [B, H] (tanh of a dense layer on the [CLS] state) of a last hidden state.</summary>
    public Tensor Pool(Tensor lastHidden) => Child("pooler").Forward(lastHidden);

    /// <summary>
    /// The encoder under every input-side option: <paramref name="virtualEmbeddings"/> [B, n, H] go before the tokens'
    /// word embeddings (prompt tuning: as inputs_embeds in PEFT, they take positions 0..n-1 and token type 0, and are
    /// never padding); <paramref name="prefixes"/> (one [B, heads, n, head dim] pair per layer, prefix tuning) go
    /// before each layer's keys and values, and the tokens then take positions n..n+T-1 as with Hugging Face's
    /// past_key_values. <paramref name="paddingMask"/> [B, T] is true at padding among the tokens. Returns the hidden
    /// states of the tokens only, [B, T, H].
    /// </summary>
    public Tensor Encode(Tensor ids, Tensor? virtualEmbeddings, Tensor? paddingMask, Tensor? tokenTypeIds, IReadOnlyList<(Tensor Keys, Tensor Values)>? prefixes)
    {
        if (ids.Rank != 2) throw new ArgumentException($"Bert: expects token ids [batch, time], got {Shapes.Format(ids.Shape)}");
        int b = ids.Size(0), t = ids.Size(1);
        if (tokenTypeIds is not null && !tokenTypeIds.Shape.SequenceEqual(ids.Shape))
            throw new ArgumentException($"Bert: token type ids {Shapes.Format(tokenTypeIds.Shape)} must have the shape of the ids {Shapes.Format(ids.Shape)}");
        var embeddings = Embeddings;
        var words = embeddings.Words(ids);
        int virtualTokens = 0, prefixLength = 0;
        if (virtualEmbeddings is not null)
        {
            if (virtualEmbeddings.Rank != 3 || virtualEmbeddings.Size(0) != b || virtualEmbeddings.Size(2) != Config.Hidden)
                throw new ArgumentException($"Bert: expects virtual embeddings [{b}, n, {Config.Hidden}], got {Shapes.Format(virtualEmbeddings.Shape)}");
            virtualTokens = virtualEmbeddings.Size(1);
            words = Tensor.Concat([virtualEmbeddings.To(words.DType), words], 1);
            if (tokenTypeIds is not null) tokenTypeIds = Tensor.Concat([Tensor.Zeros([b, virtualTokens], DType.Int64, ids.Device), tokenTypeIds.To(DType.Int64)], 1);
        }
        if (prefixes is not null) prefixLength = PrefixGeometry.CheckPrefixes(prefixes, b, "Bert");

        var x = embeddings.Forward(words, firstPosition: prefixLength, tokenTypeIds);
        // Keys are [prefix; virtual tokens; tokens]; only tokens can be padding.
        var keyMask = paddingMask is null ? null : PaddingMasks.PrependKept(paddingMask, prefixLength + virtualTokens);
        var layers = Encoder.Layers;
        for (int i = 0; i < layers.Count; i++)
            x = layers[i].Forward(x, keyMask, prefixes?[i]);
        return virtualTokens == 0 ? x : x.Narrow(1, virtualTokens, t);
    }

    /// <summary>One prefix per layer: heads, head width and model width.</summary>
    public PrefixGeometry PrefixGeometry => new(Config.Layers, Config.Heads, Config.HeadDim, Config.Hidden);

    /// <summary>
    /// Mean of the hidden states [B, T, H] over the real tokens (sentence-transformers' mean pooling):
    /// <paramref name="paddingMask"/> [B, T] is true at padding; without it every token counts.
    /// </summary>
    public static Tensor MeanPool(Tensor hidden, Tensor? paddingMask)
    {
        if (paddingMask is null) return hidden.Mean(1);
        var keep = (1.0 - paddingMask.To(hidden.DType)).Unsqueeze(-1);               // [B, T, 1]
        // sentence-transformers clamps the count at 1e-9 so that an all-padding row gives 0, not NaN.
        return (hidden * keep).Sum(1) / keep.Sum(1).Clamp(min: 1e-9);
    }

    // Hugging Face's attention mask (1 = token) as the engine's padding mask (true = padding).
    static Tensor? PaddingMaskOf(Tensor ids, Tensor? attentionMask)
    {
        if (attentionMask is null) return null;
        if (!attentionMask.Shape.SequenceEqual(ids.Shape))
            throw new ArgumentException($"Bert: attention mask {Shapes.Format(attentionMask.Shape)} must have the shape of the ids {Shapes.Format(ids.Shape)}");
        return attentionMask.To(DType.Float32).Eq(0);
    }
}
