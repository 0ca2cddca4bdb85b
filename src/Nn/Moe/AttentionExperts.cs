namespace Engine.Nn;

/// <summary>
/// BAM's soft mixture of attention experts (Zhang et al. 2024, "BAM! Just Like That", spec structure-and-optimizers.md
/// 2.2 and adapters-other.md 15; paper only): every expert attends, and the outputs are mixed per token by a bias-free
/// router's softmax (in Float32), Attn(x) = Σ_i g_i(x) · Attn_i(x). Two variants: full experts (each its own Q, K, V
/// and O — <see cref="MultiHeadAttention"/> copies, the paper's best quality) and K/V shared (each expert its own Q and
/// O, one K and V projection computed once, so one KV cache). Parameters: <c>router.weight</c> [E, d]; full: <c>experts.{i}.qkv/proj</c>;
/// shared: <c>kv</c>, <c>q.{i}</c>, <c>o.{i}</c>. Causal, without rotary embeddings or grouped heads in the shared variant.
/// Incremental decoding keeps keys and values (<see cref="AttentionExpertsState"/>): one cache per full expert, or one for the shared keys and values.
/// </summary>
public sealed class AttentionExperts : Module, ITokenMixer
{
    readonly int _heads;

    AttentionExperts(int dModel, int heads, int experts, bool kvShared, Generator? generator)
    {
        if (experts < 1) throw new ArgumentException($"AttentionExperts: needs at least one expert, got {experts}");
        if (dModel % heads != 0) throw new ArgumentException($"AttentionExperts: width {dModel} is not divisible by {heads} heads");
        DModel = dModel;
        _heads = heads;
        KvShared = kvShared;
        RegisterModule("router", new Linear(dModel, experts, bias: false, generator));
        Experts = experts;
    }

    /// <summary><paramref name="experts"/> full attention experts of <paramref name="attention"/>'s shape.</summary>
    public static AttentionExperts Full(AttentionOptions attention, int experts, Generator? generator = null)
    {
        var layer = new AttentionExperts(attention.DModel, attention.Heads, experts, kvShared: false, generator);
        layer.RegisterModule("experts", new ModuleList<MultiHeadAttention>(Enumerable.Range(0, experts).Select(_ => new MultiHeadAttention(attention, generator)).ToList()));
        return layer;
    }

    /// <summary><paramref name="experts"/> experts with their own Q and O and one shared K, V (causal, biases as GPT-2).</summary>
    public static AttentionExperts SharedKeyValue(int dModel, int heads, int experts, Generator? generator = null)
    {
        var layer = new AttentionExperts(dModel, heads, experts, kvShared: true, generator);
        layer.RegisterModule("kv", new Linear(dModel, 2 * dModel, true, generator));
        layer.RegisterModule("q", new ModuleList<Linear>(Enumerable.Range(0, experts).Select(_ => new Linear(dModel, dModel, true, generator)).ToList()));
        layer.RegisterModule("o", new ModuleList<Linear>(Enumerable.Range(0, experts).Select(_ => new Linear(dModel, dModel, true, generator)).ToList()));
        layer.RegisterModule("attn_dropout", new Dropout(0));
        return layer;
    }

    /// <summary>Width d.</summary>
    public int DModel { get; }

    /// <summary>Number of attention experts.</summary>
    public int Experts { get; }

    /// <summary>True for the variant with one shared K and V projection.</summary>
    public bool KvShared { get; }

    /// <summary>The soft router (a bias-free Linear d → E).</summary>
    public Linear Router => Unwrapped<Linear>("router");

    /// <summary>The full experts; throws for the shared variant.</summary>
    public ModuleList<MultiHeadAttention> FullExperts => !KvShared ? Unwrapped<ModuleList<MultiHeadAttention>>("experts")
        : throw new InvalidOperationException("AttentionExperts: the K/V-shared variant has no full experts (see Kv, Queries, Outputs)");

    /// <summary>The shared key/value projection d → 2d (keys first); throws for the full variant.</summary>
    public Linear Kv => KvShared ? Unwrapped<Linear>("kv") : throw new InvalidOperationException("AttentionExperts: full experts have their own keys and values");

    /// <summary>Each expert's query projection (shared variant).</summary>
    public ModuleList<Linear> Queries => Unwrapped<ModuleList<Linear>>("q");

    /// <summary>Each expert's output projection (shared variant).</summary>
    public ModuleList<Linear> Outputs => Unwrapped<ModuleList<Linear>>("o");

    /// <summary>x [B, T, d] to [B, T, d].</summary>
    public override Tensor Forward(Tensor x) => Forward(x, null, null);

    /// <summary>
    /// An empty decoding state: one key/value cache per full expert, or the one cache of the shared keys and values
    /// (the K/V-shared variant's point: one cache whatever the number of experts).
    /// </summary>
    public IMixerState CreateState() => new AttentionExpertsState(KvShared ? 1 : Experts);

    /// <summary>
    /// x [B, T, C] to the gate-weighted sum of the experts' attention outputs; with a state (<see cref="CreateState"/>)
    /// x holds only the new positions, which attend to the cached ones. <paramref name="keyPaddingMask"/> [B, T_keys] is
    /// true at padding positions, as for <see cref="MultiHeadAttention"/>.
    /// </summary>
    public Tensor Forward(Tensor x, Tensor? keyPaddingMask, IMixerState? state)
    {
        var caches = state switch
        {
            null => null,
            AttentionExpertsState s => s.Caches,
            _ => throw new ArgumentException($"AttentionExperts: expects the state of its CreateState, got {state.GetType().Name}"),
        };
        if (x.Rank != 3 || x.Size(2) != DModel)
            throw new ArgumentException($"AttentionExperts: expects [batch, time, {DModel}], got {Shapes.Format(x.Shape)}");
        var logits = Child("router").Forward(x);
        if (logits.DType != DType.Float64) logits = logits.To(DType.Float32);
        var gates = logits.Softmax(-1).To(x.DType);
        int past = caches?[0].Length ?? 0;
        var shared = KvShared ? SharedKeysValues(x) : default;
        if (KvShared && caches is not null) shared = caches[0].Append(shared.K, shared.V);
        Tensor? sum = null;
        for (int i = 0; i < Experts; i++)
        {
            var y = (KvShared ? SharedExpertForward(x, i, shared.K, shared.V, past, keyPaddingMask) : FullExperts[i].Forward(x, keyPaddingMask, caches?[i])) * gates.Narrow(-1, i, 1);
            sum = sum is null ? y : sum + y;
        }
        return sum!;
    }

    // The one key/value projection of the shared variant, as heads [B, h, T, d_h].
    (Tensor K, Tensor V) SharedKeysValues(Tensor x)
    {
        int b = x.Size(0), t = x.Size(1), h = _heads, d = DModel / _heads;
        var kv = Child("kv").Forward(x);
        return (kv.Narrow(-1, 0, DModel).Reshape(b, t, h, d).Transpose(1, 2), kv.Narrow(-1, DModel, DModel).Reshape(b, t, h, d).Transpose(1, 2));
    }

    // Expert i of the shared variant: its own queries against the shared keys and values, then its own output projection.
    Tensor SharedExpertForward(Tensor x, int i, Tensor k, Tensor v, int past, Tensor? keyPaddingMask)
    {
        int b = x.Size(0), t = x.Size(1), h = _heads, d = DModel / _heads;
        var q = Queries[i].Forward(x).Reshape(b, t, h, d).Transpose(1, 2);
        var y = ScaledDotProductAttention.Compute(q, k, v, causal: true, past: past, keyPaddingMask, Child("attn_dropout"), nameof(AttentionExperts));
        return Outputs[i].Forward(y);
    }
}

/// <summary>The decoding state of <see cref="AttentionExperts"/>: a key/value cache per full expert, or one for the shared keys and values.</summary>
public sealed class AttentionExpertsState : IMixerState
{
    internal AttentionExpertsState(int caches) => Caches = Enumerable.Range(0, caches).Select(_ => new LayerKvCache()).ToArray();

    /// <summary>The caches, one per full expert or the single shared one.</summary>
    public IReadOnlyList<LayerKvCache> Caches { get; }

    /// <summary>Number of cached positions.</summary>
    public int Length => Caches[0].Length;
}
