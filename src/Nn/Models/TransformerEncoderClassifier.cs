namespace Engine.Nn;

/// <summary>
/// A transformer encoder that classifies whole sequences: token + learned position embeddings, non-causal pre-norm
/// <see cref="TransformerBlock"/>s (every position sees every non-padding position), a final LayerNorm, pooling
/// (<see cref="EncoderPooling"/>) and a Linear head. Parameter names: <c>tok.weight</c>, <c>pos.weight</c>,
/// <c>blocks.{i}.ln1/attn/ln2/mlp...</c>, <c>ln_f</c>, <c>head.weight</c>, <c>head.bias</c>.
/// <code>var logits = new TransformerEncoderClassifier(config).Forward(ids, paddingMask); // [B, classes]</code>
/// </summary>
public sealed class TransformerEncoderClassifier : Module
{
    /// <summary>A model of the given shape; <paramref name="generator"/> seeds the initialisation and the dropout.</summary>
    public TransformerEncoderClassifier(TransformerEncoderConfig config, Generator? generator = null)
    {
        Config = config;
        Tok = RegisterModule("tok", new Embedding(config.VocabSize, config.DModel, generator));
        Pos = RegisterModule("pos", new Embedding(config.ContextLength, config.DModel, generator));
        var attention = new AttentionOptions(config.DModel, config.Heads, Causal: false, Dropout: config.Dropout);
        Blocks = RegisterModule("blocks", new ModuleList<TransformerBlock>(
            Enumerable.Range(0, config.Layers).Select(_ => new TransformerBlock(attention, config.MlpRatio * config.DModel, config.LayerNormEps, config.GeluTanh, generator))));
        LnF = RegisterModule("ln_f", new LayerNorm(config.DModel, config.LayerNormEps));
        EmbeddingDropout = RegisterModule("drop", new Dropout(config.Dropout, generator));
        Head = RegisterModule("head", new Linear(config.DModel, config.NumClasses, bias: true, generator));
    }

    public TransformerEncoderConfig Config { get; }
    public Embedding Tok { get; }
    public Embedding Pos { get; }
    public ModuleList<TransformerBlock> Blocks { get; }
    public LayerNorm LnF { get; }
    public Dropout EmbeddingDropout { get; }
    public Linear Head { get; }

    /// <summary>Token ids [B, T] to logits [B, classes], without padding.</summary>
    public override Tensor Forward(Tensor ids) => Forward(ids, null);

    /// <summary>
    /// Token ids [B, T] to logits [B, classes]. <paramref name="paddingMask"/> [B, T] is true (non-zero) at padding
    /// positions: no position attends to them and mean pooling skips them. Each row needs at least one non-padding
    /// position (with FirstToken pooling, position 0 should not be padding).
    /// </summary>
    public Tensor Forward(Tensor ids, Tensor? paddingMask)
    {
        if (ids.Rank != 2) throw new ArgumentException($"TransformerEncoderClassifier: expects token ids [batch, time], got {Shapes.Format(ids.Shape)}");
        int t = ids.Size(1);
        if (t > Config.ContextLength)
            throw new ArgumentException($"TransformerEncoderClassifier: {t} positions exceed the context length {Config.ContextLength}");
        if (paddingMask is not null && !paddingMask.Shape.SequenceEqual(ids.Shape))
            throw new ArgumentException($"TransformerEncoderClassifier: padding mask {Shapes.Format(paddingMask.Shape)} must have the shape of the ids {Shapes.Format(ids.Shape)}");
        var mask = paddingMask?.To(DType.Bool);

        var x = EmbeddingDropout.Forward(Tok.Forward(ids) + Pos.Forward(Tensor.Arange(t)));
        for (int i = 0; i < Blocks.Count; i++) x = Blocks[i].Forward(x, mask, null);
        x = LnF.Forward(x);
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
