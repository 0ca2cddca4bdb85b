namespace Engine.Nn;

/// <summary>Keys and values of the positions seen so far, per layer, for incremental decoding.</summary>
public sealed class KvCache
{
    readonly LayerKvCache[] _layers;

    public KvCache(int layers)
    {
        _layers = Enumerable.Range(0, layers).Select(_ => new LayerKvCache()).ToArray();
    }

    /// <summary>The cache of one layer.</summary>
    public LayerKvCache this[int layer] => _layers[layer];

    /// <summary>Number of cached positions.</summary>
    public int Length => _layers.Length == 0 ? 0 : _layers[0].Length;
}

/// <summary>One attention layer's cached keys and values, [B, H_kv, T, D] each.</summary>
public sealed class LayerKvCache
{
    public Tensor? Keys { get; private set; }
    public Tensor? Values { get; private set; }

    /// <summary>Number of cached positions.</summary>
    public int Length => Keys?.Size(-2) ?? 0;

    /// <summary>Appends new positions and returns all keys and values.</summary>
    public (Tensor Keys, Tensor Values) Append(Tensor keys, Tensor values)
    {
        Keys = Keys is null ? keys : Tensor.Concat([Keys, keys], -2);
        Values = Values is null ? values : Tensor.Concat([Values, values], -2);
        return (Keys, Values);
    }
}
