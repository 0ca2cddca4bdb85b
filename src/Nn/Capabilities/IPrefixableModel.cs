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

    /// <summary>
    /// Checks that <paramref name="prefixes"/> hold one (keys, values) pair per layer, each [<paramref name="batch"/>,
    /// kv heads, n, head dim] with the same n, and returns n. <paramref name="model"/> names the caller in messages.
    /// </summary>
    public int CheckPrefixes(IReadOnlyList<(Tensor Keys, Tensor Values)> prefixes, int batch, string model)
    {
        if (prefixes.Count != Layers)
            throw new ArgumentException($"{model}: expects prefixes for {Layers} attention layers, got {prefixes.Count}");
        int n = prefixes.Count == 0 ? 0 : prefixes[0].Keys.Rank == 4 ? prefixes[0].Keys.Size(2) : -1;
        for (int i = 0; i < prefixes.Count; i++)
            foreach (var t in new[] { prefixes[i].Keys, prefixes[i].Values })
                if (t.Rank != 4 || t.Size(0) != batch || t.Size(1) != KvHeads || t.Size(2) != n || t.Size(3) != HeadDim)
                    throw new ArgumentException($"{model}: the prefix keys and values of layer {i} must be [{batch}, {KvHeads}, n, {HeadDim}] with the same n in every layer, got {Shapes.Format(t.Shape)}");
        return n;
    }
}
