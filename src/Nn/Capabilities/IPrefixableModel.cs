namespace Engine.Nn;

/// <summary>
/// A model whose attention layers can start with given keys and values (prefix tuning, Li and Liang 2021): every
/// real token attends to the prefixes too. Implemented by <see cref="Gpt"/> and <see cref="TransformerEncoderClassifier"/>.
/// </summary>
public interface IPrefixableModel
{
    /// <summary>The shape of the prefixes each attention layer takes.</summary>
    PrefixGeometry PrefixGeometry { get; }

    /// <summary>
    /// Runs the model on <paramref name="ids"/> [B, T] with, for attention layer i, the keys and values
    /// <paramref name="prefixes"/>[i] ([B, kv heads, n, head dim] each) placed before the tokens' own.
    /// </summary>
    Tensor ForwardWithPrefix(Tensor ids, IReadOnlyList<(Tensor Keys, Tensor Values)> prefixes, Tensor? paddingMask = null);
}

/// <summary>The sizes of prefix tuning's keys and values for a model.</summary>
/// <param name="Layers">Attention layers that take a prefix.</param>
/// <param name="KvHeads">Key/value heads per layer (fewer than the query heads under grouped-query attention).</param>
/// <param name="HeadDim">Width of one head.</param>
/// <param name="Width">The model width (prefix tuning's encoder works in it).</param>
public readonly record struct PrefixGeometry(int Layers, int KvHeads, int HeadDim, int Width)
{
    /// <summary>Key (or value) width of one layer: kv heads times head width.</summary>
    public int KvWidth => KvHeads * HeadDim;
}
