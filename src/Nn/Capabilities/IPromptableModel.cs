namespace Engine.Nn;

/// <summary>
/// A model that can run with trainable virtual token embeddings placed before the embeddings of its input tokens
/// (prompt tuning, Lester et al. 2021). Implemented by <see cref="Gpt"/> and <see cref="TransformerEncoderClassifier"/>;
/// any user model that implements it can be prompt-tuned.
/// </summary>
public interface IPromptableModel
{
    /// <summary>The input token embedding table (virtual tokens have its width; text initialisation reads its rows).</summary>
    Embedding TokenEmbedding { get; }

    /// <summary>
    /// Runs the model on [<paramref name="virtualEmbeddings"/>; embeddings of <paramref name="ids"/>] and returns the
    /// output for the real tokens only (a causal LM: logits [B, T, V]; a classifier: logits [B, classes]).
    /// </summary>
    /// <param name="ids">Token ids [B, T].</param>
    /// <param name="virtualEmbeddings">[B, n, width].</param>
    /// <param name="paddingMask">Optional [B, T] mask of the real tokens (true at padding); virtual tokens are never padding.</param>
    Tensor ForwardWithPrompt(Tensor ids, Tensor virtualEmbeddings, Tensor? paddingMask = null);
}
