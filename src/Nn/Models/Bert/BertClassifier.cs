namespace Engine.Nn;

/// <summary>
/// A sequence classifier on a <see cref="Bert"/> encoder: mean pooling over the real tokens (as sentence-transformers
/// pools), dropout and a Linear head. Hugging Face names: <c>bert.*</c> and <c>classifier</c>, so PEFT's
/// sequence-classification convention (train <c>classifier</c> as a module to save) applies unchanged. Implements the
/// input-side capabilities, so prompt and prefix tuning work on it too.
/// <code>var logits = new BertClassifier(bert, classes: 2).Forward(ids, paddingMask); // [B, 2]</code>
/// </summary>
public sealed class BertClassifier : Module, IPromptableModel, IPrefixableModel
{
    /// <summary>Wraps <paramref name="bert"/> (not copied) with a new head; <paramref name="generator"/> seeds the head and dropout.</summary>
    public BertClassifier(Bert bert, int classes, double dropout = 0.1, Generator? generator = null)
    {
        if (classes < 1) throw new ArgumentException($"BertClassifier: needs at least one class, got {classes}");
        RegisterModule("bert", bert);
        RegisterModule("dropout", new Dropout(dropout, generator));
        RegisterModule("classifier", new Linear(bert.Config.Hidden, classes, bias: true, generator));
    }

    /// <summary>The encoder.</summary>
    public Bert Bert => Unwrapped<Bert>("bert");

    /// <summary>The head (the original layer even when an adapter wraps it).</summary>
    public Linear Classifier => Unwrapped<Linear>("classifier");

    /// <summary>Logits [B, classes] of token ids [B, T] without padding.</summary>
    public override Tensor Forward(Tensor ids) => Forward(ids, null);

    /// <summary>Logits [B, classes]; <paramref name="paddingMask"/> [B, T] is true at padding.</summary>
    public Tensor Forward(Tensor ids, Tensor? paddingMask) => Head(Bert.Encode(ids, null, Mask(ids, paddingMask), null, null), paddingMask);

    /// <inheritdoc/>
    public Embedding TokenEmbedding => Bert.Embeddings.WordEmbeddings;

    /// <inheritdoc/>
    public Tensor ForwardWithPrompt(Tensor ids, Tensor virtualEmbeddings, Tensor? paddingMask = null) =>
        Head(Bert.Encode(ids, virtualEmbeddings, Mask(ids, paddingMask), null, null), paddingMask);

    /// <inheritdoc/>
    public PrefixGeometry PrefixGeometry => Bert.PrefixGeometry;

    /// <inheritdoc/>
    public Tensor ForwardWithPrefix(Tensor ids, IReadOnlyList<(Tensor Keys, Tensor Values)> prefixes, Tensor? paddingMask = null) =>
        Head(Bert.Encode(ids, null, Mask(ids, paddingMask), null, prefixes), paddingMask);

    // Pools the tokens' hidden states (virtual tokens and prefixes never count) and applies the head.
    Tensor Head(Tensor hidden, Tensor? paddingMask) =>
        Child("classifier").Forward(Child("dropout").Forward(Bert.MeanPool(hidden, paddingMask?.To(DType.Bool))));

    static Tensor? Mask(Tensor ids, Tensor? paddingMask)
    {
        if (paddingMask is not null && !paddingMask.Shape.SequenceEqual(ids.Shape))
            throw new ArgumentException($"BertClassifier: padding mask {Shapes.Format(paddingMask.Shape)} must have the shape of the ids {Shapes.Format(ids.Shape)}");
        return paddingMask?.To(DType.Bool);
    }
}
