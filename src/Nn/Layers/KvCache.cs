namespace Engine.Nn;

/// <summary>
/// What each layer keeps of the positions seen so far, for incremental decoding: keys and values for attention layers
/// (<see cref="LayerKvCache"/>), the recurrent state for state-space layers (<see cref="S4DState"/>), ...
/// Make one for a model with <see cref="Gpt.CreateCache"/>.
/// </summary>
public sealed class KvCache
{
    readonly IMixerState[] _layers;

    /// <summary>A cache of <paramref name="layers"/> attention layers.</summary>
    public KvCache(int layers)
    {
        _layers = Enumerable.Range(0, layers).Select(_ => (IMixerState)new LayerKvCache()).ToArray();
    }

    /// <summary>A cache made of one state per layer (<see cref="ITokenMixer.CreateState"/>).</summary>
    public KvCache(IEnumerable<IMixerState> layers)
    {
        _layers = layers.ToArray();
    }

    /// <summary>The state of one layer.</summary>
    public IMixerState this[int layer] => _layers[layer];

    /// <summary>Number of layers.</summary>
    public int Layers => _layers.Length;

    /// <summary>Number of cached positions.</summary>
    public int Length => _layers.Length == 0 ? 0 : _layers[0].Length;
}

/// <summary>One attention layer's cached keys and values, [B, H_kv, T, D] each.</summary>
public sealed class LayerKvCache : IMixerState
{
    /// <summary>An empty cache.</summary>
    public LayerKvCache() { }

    /// <summary>
    /// A cache that starts with <paramref name="keys"/> and <paramref name="values"/> [B, H_kv, n, D]: prefix tuning's
    /// prefixes (Li and Liang 2021), which every later position attends to as if they were earlier tokens.
    /// </summary>
    public LayerKvCache(Tensor keys, Tensor values)
    {
        if (keys.Rank != 4 || !keys.Shape.SequenceEqual(values.Shape))
            throw new ArgumentException($"LayerKvCache: keys and values must be [batch, kv heads, positions, head dim] of one shape, got {Shapes.Format(keys.Shape)} and {Shapes.Format(values.Shape)}");
        Keys = keys;
        Values = values;
    }

    /// <summary>Cached keys [B, H_kv, T, D], or null when empty.</summary>
    public Tensor? Keys { get; private set; }

    /// <summary>Cached values [B, H_kv, T, D], or null when empty.</summary>
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
