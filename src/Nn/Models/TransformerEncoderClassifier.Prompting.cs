namespace Engine.Nn;

// Input-side adapters on the encoder classifier: virtual tokens (prompt tuning) and per-layer key/value prefixes
// (prefix tuning).
public sealed partial class TransformerEncoderClassifier : IPromptableModel, IPrefixableModel
{
    /// <summary>The token embedding table (<c>tok</c>, the original layer even when an adapter wraps it).</summary>
    public Embedding TokenEmbedding => Tok;

    /// <summary>
    /// Classifies [<paramref name="virtualEmbeddings"/>; embeddings of <paramref name="ids"/>]: as PEFT passes virtual
    /// tokens as <c>inputs_embeds</c>, the whole sequence gets positions (virtual tokens 0..n-1, real tokens
    /// n..n+T-1); virtual tokens are never padding, and pooling covers the real tokens only. Returns logits [B, classes].
    /// </summary>
    public Tensor ForwardWithPrompt(Tensor ids, Tensor virtualEmbeddings, Tensor? paddingMask = null)
    {
        var mask = CheckInputs(ids, paddingMask);
        if (virtualEmbeddings.Rank != 3 || virtualEmbeddings.Size(0) != ids.Size(0) || virtualEmbeddings.Size(2) != Config.DModel)
            throw new ArgumentException($"TransformerEncoderClassifier.ForwardWithPrompt: expects virtual embeddings [{ids.Size(0)}, n, {Config.DModel}], got {Shapes.Format(virtualEmbeddings.Shape)}");
        var embeddings = Tensor.Concat([virtualEmbeddings, Child("tok").Forward(ids)], 1);
        return Encode(embeddings, firstPosition: 0, virtualTokens: virtualEmbeddings.Size(1), mask, prefixes: null);
    }

    /// <summary>One prefix per block: heads, head width and model width of the attention.</summary>
    public PrefixGeometry PrefixGeometry => new(Config.Layers, Config.Heads, Config.DModel / Config.Heads, Config.DModel);

    /// <summary>
    /// Classifies <paramref name="ids"/> [B, T] with each block's attention seeing the prefix keys and values
    /// ([B, heads, n, head dim]) before the tokens' own (non-causal: every token sees every prefix, which is never
    /// masked). The tokens take positions n..n+T-1, as Hugging Face BERT-like encoders do with <c>past_key_values</c>.
    /// </summary>
    public Tensor ForwardWithPrefix(Tensor ids, IReadOnlyList<(Tensor Keys, Tensor Values)> prefixes, Tensor? paddingMask = null)
    {
        var mask = CheckInputs(ids, paddingMask);
        int n = PrefixGeometry.CheckPrefixes(prefixes, ids.Size(0), "TransformerEncoderClassifier.ForwardWithPrefix");
        return Encode(Child("tok").Forward(ids), firstPosition: n, virtualTokens: 0, mask, prefixes);
    }
}
