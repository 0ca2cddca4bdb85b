
namespace Engine.Nn;

/// <summary>Options of <see cref="MultiHeadAttention"/>.</summary>
/// <param name="DModel">Model width.</param>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads (grouped-query attention when fewer than <paramref name="Heads"/>); null means Heads.</param>
/// <param name="Causal">Each position attends only to itself and earlier positions.</param>
/// <param name="Rotary">Rotary position embeddings on queries and keys.</param>
/// <param name="Bias">Biases in the projections.</param>
/// <param name="Dropout">Dropout on the attention weights and the output.</param>
public sealed record AttentionOptions(int DModel, int Heads, int? KvHeads = null, bool Causal = true, bool Rotary = false, bool Bias = true, double Dropout = 0);

/// <summary>
/// Scaled dot-product attention over several heads (Vaswani et al. 2017, section 3.2), with a causal mask, an
/// optional key padding mask, rotary embeddings, grouped-query heads (Ainslie et al. 2023) and a KV cache.
/// Parameters: <c>qkv</c> (one projection to queries, keys and values) and <c>proj</c> (output).
/// </summary>
public sealed class MultiHeadAttention : Module, ITokenMixer
{
    public MultiHeadAttention(AttentionOptions options, Generator? generator = null)
    {
        Options = options;
        int kv = options.KvHeads ?? options.Heads;
        if (options.DModel % options.Heads != 0)
            throw new ArgumentException($"MultiHeadAttention: width {options.DModel} is not divisible by {options.Heads} heads");
        if (options.Heads % kv != 0)
            throw new ArgumentException($"MultiHeadAttention: {options.Heads} query heads are not a multiple of {kv} key/value heads");
        HeadDim = options.DModel / options.Heads;
        KvHeads = kv;
        RegisterModule("qkv", new Linear(options.DModel, (options.Heads + 2 * kv) * HeadDim, options.Bias, generator));
        RegisterModule("proj", new Linear(options.DModel, options.DModel, options.Bias, generator));
        RegisterModule("attn_dropout", new Dropout(options.Dropout, generator));
        RegisterModule("dropout", new Dropout(options.Dropout, generator));
    }

    public AttentionOptions Options { get; }
    public int HeadDim { get; }
    public int KvHeads { get; }
    public Linear Qkv => Unwrapped<Linear>("qkv");
    public Linear Proj => Unwrapped<Linear>("proj");

    public override Tensor Forward(Tensor x) => Forward(x, null, null);

    /// <summary>
    /// x [B, T, C] to [B, T, C]. <paramref name="keyPaddingMask"/> [B, T_keys] is true at padding positions, which no
    /// query attends to (as PyTorch's key_padding_mask). With a cache, x holds only the new positions.
    /// </summary>
    public Tensor Forward(Tensor x, Tensor? keyPaddingMask, LayerKvCache? cache) => Forward(x, keyPaddingMask, cache, null);

    // The shared body: a RoutedAttentionState supplies a cache, another step's keys and values, or an explicit mask.
    Tensor Forward(Tensor x, Tensor? keyPaddingMask, LayerKvCache? cache, RoutedAttentionState? routed)
    {
        if (x.Rank != 3 || x.Size(2) != Options.DModel)
            throw new ArgumentException($"MultiHeadAttention: expects [batch, time, {Options.DModel}], got {Shapes.Format(x.Shape)}");
        int b = x.Size(0), t = x.Size(1), h = Options.Heads, d = HeadDim;
        int past = cache?.Length ?? 0;

        var qkv = Child("qkv").Forward(x);
        var q = qkv.Narrow(-1, 0, h * d).Reshape(b, t, h, d).Transpose(1, 2);
        var k = qkv.Narrow(-1, h * d, KvHeads * d).Reshape(b, t, KvHeads, d).Transpose(1, 2);
        var v = qkv.Narrow(-1, (h + KvHeads) * d, KvHeads * d).Reshape(b, t, KvHeads, d).Transpose(1, 2);
        if (routed is not null)
        {
            // Routed rows are a gathered subset of positions: rotary angles by slot would be wrong.
            if (Options.Rotary) throw new NotSupportedException("MultiHeadAttention: routed attention (RoutedAttentionState) needs learned positions, not rotary embeddings");
            if (keyPaddingMask is not null) throw new ArgumentException("MultiHeadAttention: a RoutedAttentionState carries its own mask; pass no key padding mask");
            cache = routed.Cache;
            past = cache?.Length ?? 0;
            // Shared keys end where these queries do unless an explicit mask says otherwise.
            if (routed.SharedKeys is not null) (k, v, past) = (routed.SharedKeys, routed.SharedValues!, routed.SharedKeys.Size(2) - t);
        }
        if (Options.Rotary)
        {
            q = RotaryEmbedding.Apply(q, past);
            k = RotaryEmbedding.Apply(k, past);
        }
        if (cache is not null) (k, v) = cache.Append(k, v);
        int tk = k.Size(2);
        if (KvHeads != h)
        {
            // Each group of h / kv query heads shares one key/value head.
            int group = h / KvHeads;
            k = k.Unsqueeze(2).Expand(b, KvHeads, group, tk, d).Reshape(b, h, tk, d);
            v = v.Unsqueeze(2).Expand(b, KvHeads, group, tk, d).Reshape(b, h, tk, d);
        }

        var hidden = routed?.Hidden;
        if (hidden is not null && (hidden.Size(0) != b || hidden.Size(1) != t || hidden.Size(2) != tk))
            throw new ArgumentException($"MultiHeadAttention: the routed visibility mask must be [{b}, {t}, {tk}], got {Shapes.Format(hidden.Shape)}");
        var y = ScaledDotProductAttention.Compute(q, k, v, Options.Causal && hidden is null, past, keyPaddingMask, Child("attn_dropout"), nameof(MultiHeadAttention), hidden);
        return Child("dropout").Forward(Child("proj").Forward(y));
    }

    /// <summary>
    /// The token-mixer entry point: the state must be this layer's <see cref="LayerKvCache"/>, a
    /// <see cref="RoutedAttentionState"/> (Mixture-of-Recursions' routed calls), or null.
    /// </summary>
    Tensor ITokenMixer.Forward(Tensor x, Tensor? keyPaddingMask, IMixerState? state) => state switch
    {
        null => Forward(x, keyPaddingMask, null),
        LayerKvCache cache => Forward(x, keyPaddingMask, cache),
        RoutedAttentionState routed => Forward(x, keyPaddingMask, null, routed),
        _ => throw new ArgumentException($"MultiHeadAttention: expects a LayerKvCache, got {state.GetType().Name}"),
    };

    /// <summary>An empty key/value cache.</summary>
    public IMixerState CreateState() => new LayerKvCache();
}
