namespace Engine.Nn;

/// <summary>
/// The shape of a <see cref="Bert"/> encoder, with Hugging Face <c>BertConfig</c>'s meaning and defaults (BERT-base).
/// </summary>
/// <param name="VocabSize">Token vocabulary (vocab_size).</param>
/// <param name="Hidden">Model width (hidden_size).</param>
/// <param name="Layers">Encoder layers (num_hidden_layers).</param>
/// <param name="Heads">Attention heads (num_attention_heads); must divide <paramref name="Hidden"/>.</param>
/// <param name="Intermediate">Width of each feed-forward layer (intermediate_size).</param>
/// <param name="MaxPositions">Learned positions (max_position_embeddings): the longest input.</param>
/// <param name="TypeVocabSize">Token types, segments A/B (type_vocab_size).</param>
/// <param name="LayerNormEps">LayerNorm epsilon (layer_norm_eps).</param>
/// <param name="Dropout">Dropout on embeddings and sublayer outputs (hidden_dropout_prob).</param>
/// <param name="AttentionDropout">Dropout on attention weights (attention_probs_dropout_prob).</param>
public sealed record BertConfig(
    int VocabSize = 30522,
    int Hidden = 768,
    int Layers = 12,
    int Heads = 12,
    int Intermediate = 3072,
    int MaxPositions = 512,
    int TypeVocabSize = 2,
    double LayerNormEps = 1e-12,
    double Dropout = 0.1,
    double AttentionDropout = 0.1)
{
    /// <summary>all-MiniLM-L6-v2 (sentence-transformers): 6 layers of width 384, 12 heads.</summary>
    public static BertConfig MiniLmL6V2 { get; } = new(Hidden: 384, Layers: 6, Heads: 12, Intermediate: 1536);

    /// <summary>Width of one attention head.</summary>
    public int HeadDim => Hidden / Heads;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field out of range.</summary>
    public void Validate()
    {
        static void Positive(int value, string name)
        {
            if (value <= 0) throw new ArgumentException($"BertConfig: {name} must be positive, got {value}");
        }
        Positive(VocabSize, nameof(VocabSize));
        Positive(Hidden, nameof(Hidden));
        Positive(Layers, nameof(Layers));
        Positive(Heads, nameof(Heads));
        Positive(Intermediate, nameof(Intermediate));
        Positive(MaxPositions, nameof(MaxPositions));
        Positive(TypeVocabSize, nameof(TypeVocabSize));
        if (Hidden % Heads != 0) throw new ArgumentException($"BertConfig: Hidden {Hidden} is not divisible by {Heads} heads");
        if (!(LayerNormEps > 0) || double.IsInfinity(LayerNormEps)) throw new ArgumentException($"BertConfig: LayerNormEps must be positive and finite, got {LayerNormEps}");
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentException($"BertConfig: Dropout must be in [0, 1), got {Dropout}");
        if (!(AttentionDropout >= 0 && AttentionDropout < 1)) throw new ArgumentException($"BertConfig: AttentionDropout must be in [0, 1), got {AttentionDropout}");
    }
}
