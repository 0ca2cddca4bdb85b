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
