namespace Engine.Nn;

// Input-side adapters on the GPT: virtual tokens (prompt tuning) and per-layer key/value prefixes (prefix tuning),
// both run through the model's own incremental-decoding cache.
public sealed partial class Gpt : IPromptableModel, IPrefixableModel
{
    /// <summary>The token embedding table (<c>tok</c>, the original layer even when an adapter wraps it).</summary>
    public Embedding TokenEmbedding => Tok;

    /// <summary>
    /// Runs the virtual token embeddings [B, n, C] into a fresh cache, then the tokens <paramref name="ids"/> [B, T]
    /// after them (positions n..n+T-1), and returns the logits of the real tokens [B, T, V]. Works with every token
    /// mixer; <paramref name="paddingMask"/> [B, T] marks padding among the real tokens.
    /// </summary>
    public Tensor ForwardWithPrompt(Tensor ids, Tensor virtualEmbeddings, Tensor? paddingMask = null)
    {
        if (ids.Rank != 2 || virtualEmbeddings.Rank != 3 || virtualEmbeddings.Size(0) != ids.Size(0))
            throw new ArgumentException($"Gpt.ForwardWithPrompt: expects ids [batch, time] and virtual embeddings [batch, n, {Config.DModel}], got {Shapes.Format(ids.Shape)} and {Shapes.Format(virtualEmbeddings.Shape)}");
        var cache = CreateCache();
        ForwardEmbeddings(virtualEmbeddings, cache);
        return Forward(ids, cache, PaddingMasks.PrependKept(paddingMask, virtualEmbeddings.Size(1)));
    }

    /// <summary>
    /// Layers, key/value heads, head width and model width of the prefixes. Throws <see cref="NotSupportedException"/>
    /// when a layer's token mixer is not attention (a recurrent state has no keys and values to prefix).
    /// </summary>
    public PrefixGeometry PrefixGeometry
    {
        get
        {
            var kinds = TokenMixers.Resolve(Config);
            for (int i = 0; i < kinds.Count; i++)
                if (kinds[i] != TokenMixers.Attention)
                    throw new NotSupportedException($"Gpt: prefix tuning needs attention in every layer, but layer {i} (blocks.{i}.{Blocks[i].MixerName}) is a '{kinds[i]}' mixer, which has no keys and values to prefix");
            return new PrefixGeometry(Config.Layers, Config.KvHeads ?? Config.Heads, Config.DModel / Config.Heads, Config.DModel);
        }
    }

    /// <summary>
    /// Runs <paramref name="ids"/> [B, T] with each attention layer's cache starting with its prefix keys and values
    /// ([B, kv heads, n, head dim]); the tokens take positions n..n+T-1 and attend to every prefix, as Hugging Face
    /// GPT-2 does with <c>past_key_values</c>. Returns logits [B, T, V].
    /// </summary>
    public Tensor ForwardWithPrefix(Tensor ids, IReadOnlyList<(Tensor Keys, Tensor Values)> prefixes, Tensor? paddingMask = null)
    {
        if (ids.Rank != 2) throw new ArgumentException($"Gpt.ForwardWithPrefix: expects token ids [batch, time], got {Shapes.Format(ids.Shape)}");
        int n = PrefixGeometry.CheckPrefixes(prefixes, ids.Size(0), "Gpt.ForwardWithPrefix");
        var cache = new KvCache(prefixes.Select(p => (IMixerState)new LayerKvCache(p.Keys, p.Values)));
        return Forward(ids, cache, PaddingMasks.PrependKept(paddingMask, n));
    }
}
