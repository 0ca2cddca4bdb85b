namespace Engine.Nn;

/// <summary>How <see cref="TransformerEncoderClassifier"/> turns the per-position states into one vector per sequence.</summary>
public enum EncoderPooling
{
    /// <summary>Mean over the non-padding positions (all positions when no padding mask is given).</summary>
    Mean,

    /// <summary>The state of position 0 (a [CLS]-style first token, as BERT).</summary>
    FirstToken,
}

/// <summary>Shape of a transformer encoder with a classification head.</summary>
/// <param name="VocabSize">Number of token ids.</param>
/// <param name="ContextLength">Longest sequence (size of the learned position table).</param>
/// <param name="DModel">Width.</param>
/// <param name="Layers">Number of transformer blocks.</param>
/// <param name="Heads">Attention heads.</param>
/// <param name="NumClasses">Number of output classes (width of the head).</param>
/// <param name="Pooling">How the sequence is pooled before the head.</param>
/// <param name="MlpRatio">Hidden width of the MLP as a multiple of DModel.</param>
/// <param name="Dropout">Dropout probability (embeddings, attention, MLP).</param>
/// <param name="LayerNormEps">LayerNorm epsilon.</param>
/// <param name="GeluTanh">The tanh-approximated GELU instead of the exact one.</param>
public sealed record TransformerEncoderConfig(
    int VocabSize,
    int ContextLength,
    int DModel,
    int Layers,
    int Heads,
    int NumClasses,
    EncoderPooling Pooling = EncoderPooling.Mean,
    int MlpRatio = 4,
    double Dropout = 0,
    double LayerNormEps = 1e-5,
    bool GeluTanh = false);
