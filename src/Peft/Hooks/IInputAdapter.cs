namespace Engine.Peft;

/// <summary>
/// A method that changes the model's inputs instead of (or besides) its layers: prompt tuning prepends virtual token
/// embeddings, prefix tuning starts every attention layer with virtual keys and values. The adapted model runs the
/// first active input adapter's <see cref="Forward"/> in place of the model's own.
/// </summary>
public interface IInputAdapter
{
    /// <summary>Virtual positions the adapter adds before the input (they take room in the model's context).</summary>
    int VirtualTokens { get; }

    /// <summary>Runs the adapted model on <paramref name="input"/> (token ids [B, T]) with the adapter's inputs.</summary>
    Tensor Forward(PeftModel model, Tensor input);

    /// <summary>
    /// A decoding cache for <paramref name="batch"/> rows that already holds the adapter's virtual positions, for
    /// generation (<c>Sampling.Generate</c>); the model must be an <see cref="IKvCacheModel"/>.
    /// </summary>
    KvCache CreateCache(PeftModel model, int batch);
}
