namespace Engine.Nn;

/// <summary>
/// A transformer encoder that classifies whole sequences: token + learned position embeddings, non-causal pre-norm
/// <see cref="TransformerBlock"/>s (every position sees every non-padding position), a final LayerNorm, pooling
/// (<see cref="EncoderPooling"/>) and a Linear head. Parameter names: <c>tok.weight</c>, <c>pos.weight</c>,
/// <c>blocks.{i}.ln1/attn/ln2/mlp...</c>, <c>ln_f</c>, <c>head.weight</c>, <c>head.bias</c>.
/// <code>var logits = new TransformerEncoderClassifier(config).Forward(ids, paddingMask); // [B, classes]</code>
/// </summary>
public sealed partial class TransformerEncoderClassifier : Module
{
    /// <summary>A model of the given shape; <paramref name="generator"/> seeds the initialisation and the dropout.</summary>
    public TransformerEncoderClassifier(TransformerEncoderConfig config, Generator? generator = null)
    {
        Config = config;
        RegisterModule("tok", new Embedding(config.VocabSize, config.DModel, generator));
        RegisterModule("pos", new Embedding(config.ContextLength, config.DModel, generator));
        var attention = new AttentionOptions(config.DModel, config.Heads, Causal: false, Dropout: config.Dropout);
        RegisterModule("blocks", new ModuleList<TransformerBlock>(
            Enumerable.Range(0, config.Layers).Select(_ => new TransformerBlock(attention, config.MlpRatio * config.DModel, config.LayerNormEps, config.GeluTanh, generator))));
        RegisterModule("ln_f", new LayerNorm(config.DModel, config.LayerNormEps));
        RegisterModule("drop", new Dropout(config.Dropout, generator));
        RegisterModule("head", new Linear(config.DModel, config.NumClasses, bias: true, generator));
    }

    // Typed accessors look through adapters' wrappers; the forward pass calls the registered modules (Child).

    /// <summary>The shape the model was built with.</summary>
    public TransformerEncoderConfig Config { get; }

    /// <summary>The token embedding.</summary>
    public Embedding Tok => Unwrapped<Embedding>("tok");

    /// <summary>The learned position embedding.</summary>
    public Embedding Pos => Unwrapped<Embedding>("pos");

    /// <summary>The encoder blocks.</summary>
    public ModuleList<TransformerBlock> Blocks => Unwrapped<ModuleList<TransformerBlock>>("blocks");

    /// <summary>The final LayerNorm.</summary>
    public LayerNorm LnF => Unwrapped<LayerNorm>("ln_f");

    /// <summary>Dropout on the embeddings.</summary>
    public Dropout EmbeddingDropout => Unwrapped<Dropout>("drop");

    /// <summary>The classification head.</summary>
    public Linear Head => Unwrapped<Linear>("head");

    /// <summary>Token ids [B, T] to logits [B, classes], without padding.</summary>
    public override Tensor Forward(Tensor ids) => Forward(ids, null);

    /// <summary>
    /// Token ids [B, T] to logits [B, classes]. <paramref name="paddingMask"/> [B, T] is true (non-zero) at padding
    /// positions: no position attends to them and mean pooling skips them. Each row needs at least one non-padding
    /// position (with FirstToken pooling, position 0 should not be padding).
    /// </summary>
    public Tensor Forward(Tensor ids, Tensor? paddingMask)
    {
        var mask = CheckInputs(ids, paddingMask);
        return Encode(Child("tok").Forward(ids), firstPosition: 0, virtualTokens: 0, mask, prefixes: null);
    }

    // Validates ids [B, T] and the optional padding mask, which is returned as Bool.
    Tensor? CheckInputs(Tensor ids, Tensor? paddingMask)
    {
        if (ids.Rank != 2) throw new ArgumentException($"TransformerEncoderClassifier: expects token ids [batch, time], got {Shapes.Format(ids.Shape)}");
        if (paddingMask is not null && !paddingMask.Shape.SequenceEqual(ids.Shape))
            throw new ArgumentException($"TransformerEncoderClassifier: padding mask {Shapes.Format(paddingMask.Shape)} must have the shape of the ids {Shapes.Format(ids.Shape)}");
        return paddingMask?.To(DType.Bool);
    }

    // Embeddings [B, L, C], whose first virtualTokens rows are virtual tokens (prompt tuning) and the rest the real
    // tokens, at positions firstPosition.. (after any prefix); each block's attention starts from its prefix keys and
    // values when given (prefix tuning). mask [B, L - virtualTokens] marks padding among the real tokens, which alone
    // are pooled. Returns logits [B, classes].
    Tensor Encode(Tensor embeddings, int firstPosition, int virtualTokens, Tensor? mask, IReadOnlyList<(Tensor Keys, Tensor Values)>? prefixes)
    {
        int l = embeddings.Size(1), real = l - virtualTokens;
        if (firstPosition + l > Config.ContextLength)
            throw new ArgumentException($"TransformerEncoderClassifier: {firstPosition + l} positions exceed the context length {Config.ContextLength}");
        var x = Child("drop").Forward(embeddings + Child("pos").Forward(Tensor.Arange(firstPosition, firstPosition + l, device: embeddings.Device)));
        // Prefixes and virtual tokens are never padding: the attention mask covers [prefix; virtual; real] keys.
        var keyMask = PaddingMasks.PrependKept(mask, firstPosition + virtualTokens);
        var blocks = Blocks;
        for (int i = 0; i < blocks.Count; i++)
        {
            // A prefix is a key/value cache that already holds the prefix positions (non-causal here, so every
            // token sees all of them).
            var state = prefixes is null ? null : new LayerKvCache(prefixes[i].Keys, prefixes[i].Values);
            x = blocks[i].Forward(x, keyMask, state);
        }
        x = Child("ln_f").Forward(x);
        if (virtualTokens > 0) x = x.Narrow(1, virtualTokens, real);
        return Child("head").Forward(Pool(x, mask));
    }

    // [B, T, C] to [B, C].
    Tensor Pool(Tensor x, Tensor? mask)
    {
        if (Config.Pooling == EncoderPooling.FirstToken) return x.Select(1, 0);
        if (mask is null) return x.Mean(1);
        var keep = mask.LogicalNot().To(x.DType).Unsqueeze(-1); // [B, T, 1], 1 at real tokens
        return (x * keep).Sum(1) / keep.Sum(1).Clamp(min: 1);
    }
}
