namespace Engine.Nn;

/// <summary>
/// A causal model that decodes incrementally with a <see cref="KvCache"/>: input-side adapters start generation by
/// filling a cache with their virtual tokens or prefixes. Implemented by <see cref="Gpt"/>.
/// </summary>
public interface IKvCacheModel
{
    /// <summary>An empty cache, one state per layer.</summary>
    KvCache CreateCache();

    /// <summary>Runs token embeddings [B, T, width] after the positions already in <paramref name="cache"/>, appending to it.</summary>
    Tensor ForwardEmbeddings(Tensor embeddings, KvCache? cache, Tensor? keyPaddingMask = null);

    /// <summary>Runs token ids [B, T] after the positions already in <paramref name="cache"/>, appending to it.</summary>
    Tensor Forward(Tensor ids, KvCache? cache, Tensor? keyPaddingMask = null);
}
