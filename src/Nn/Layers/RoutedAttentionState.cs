namespace Engine.Nn;

/// <summary>
/// How one attention call sees its keys when a router, not the sequence, decides which tokens run a layer
/// (Mixture-of-Recursions, Bae et al. 2025; spec structure-and-optimizers.md 1.2): the rows given to the layer are a
/// gathered, possibly padded subset of the positions, so "causal over slots" is not enough. Passed to
/// <see cref="TransformerBlock.Forward(Tensor, Tensor?, IMixerState?)"/> as the mixer state of a
/// <see cref="MultiHeadAttention"/>.
/// <list type="bullet">
/// <item><see cref="Cache"/>: the layer's own keys and values are appended there and the call attends to all of them
/// (recursion-wise caching); null attends to this call's keys only.</item>
/// <item><see cref="SharedKeys"/>/<see cref="SharedValues"/>: attend to these instead of the layer's own keys and values
/// (recursive KV sharing: a later recursion reads the first recursion's).</item>
/// <item><see cref="Hidden"/> [B, T_query, T_keys] (Bool, true = not visible) replaces the causal mask; null keeps the
/// usual causal mask over slots.</item>
/// </list>
/// </summary>
public sealed class RoutedAttentionState : IMixerState
{
    /// <summary>A call with the given cache, shared keys/values and visibility (each optional; see the type's summary).</summary>
    public RoutedAttentionState(LayerKvCache? cache = null, Tensor? sharedKeys = null, Tensor? sharedValues = null, Tensor? hidden = null)
    {
        if ((sharedKeys is null) != (sharedValues is null))
            throw new ArgumentException("RoutedAttentionState: shared keys and values must be given together");
        if (sharedKeys is not null && cache is not null)
            throw new ArgumentException("RoutedAttentionState: a call reads shared keys or appends to a cache, not both");
        if (hidden is not null && hidden.Rank != 3)
            throw new ArgumentException($"RoutedAttentionState: the visibility mask must be [batch, queries, keys], got {Shapes.Format(hidden.Shape)}");
        Cache = cache;
        SharedKeys = sharedKeys;
        SharedValues = sharedValues;
        Hidden = hidden;
    }

    /// <summary>Where the layer's own keys and values are appended, or null.</summary>
    public LayerKvCache? Cache { get; }

    /// <summary>Keys [B, H_kv, T_keys, D] to attend to instead of the layer's own, or null.</summary>
    public Tensor? SharedKeys { get; }

    /// <summary>Values [B, H_kv, T_keys, D] that go with <see cref="SharedKeys"/>, or null.</summary>
    public Tensor? SharedValues { get; }

    /// <summary>[B, T_query, T_keys], true where a query may not see a key; null means causal over slots.</summary>
    public Tensor? Hidden { get; }

    /// <summary>Positions in the cache (0 without one).</summary>
    public int Length => Cache?.Length ?? 0;
}
