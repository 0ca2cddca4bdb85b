namespace Engine.Nn;

/// <summary>
/// A sequence embedding from a model's last hidden state: the mean over the sequence's real (non-padding) tokens, the
/// text-only stand-in for CLIP's pooled image/text features in CLIP-MoE's clustering and contrastive loss (spec
/// structure-and-optimizers.md 2.3; SimCSE and Sentence-BERT pool the same way).
/// <code>
/// var e = MeanPooledEmbedding.Of(gpt, ids, mask);   // [B, C]
/// </code>
/// </summary>
public static class MeanPooledEmbedding
{
    /// <summary>
    /// The embeddings [B, C] of token ids [B, T] whose <paramref name="mask"/> [B, T] is 1 at real tokens and 0 at
    /// padding. <see cref="ILastHiddenStateModel"/> takes no padding mask, so the padding must be trailing (right): a
    /// causal model's real tokens then never attend to it.
    /// </summary>
    public static Tensor Of(ILastHiddenStateModel model, Tensor ids, Tensor mask) => Pool(model.LastHiddenState(ids), mask);

    /// <summary>The masked mean over time of hidden states [B, T, C] with a 0/1 mask [B, T].</summary>
    /// <exception cref="ArgumentException">The shapes differ, or a row of the mask has no real token.</exception>
    public static Tensor Pool(Tensor hidden, Tensor mask)
    {
        if (hidden.Rank != 3 || mask.Rank != 2 || mask.Size(0) != hidden.Size(0) || mask.Size(1) != hidden.Size(1))
            throw new ArgumentException($"MeanPooledEmbedding: expects hidden [batch, time, features] and mask [batch, time], got {Shapes.Format(hidden.Shape)} and {Shapes.Format(mask.Shape)}");
        var m = mask.To(hidden.DType);
        var counts = m.Sum(1, keepDim: true);
        if (counts.ToDoubleArray().Any(c => c <= 0)) throw new ArgumentException("MeanPooledEmbedding: a sequence has no real token in its mask");
        return (hidden * m.Unsqueeze(2)).Sum(1) / counts;
    }
}
