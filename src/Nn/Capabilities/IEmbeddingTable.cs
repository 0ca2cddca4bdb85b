namespace Engine.Nn;

/// <summary>
/// A wrapper of an embedding whose lookups use a table other than the wrapped embedding's weight (PEFT's trainable
/// tokens replace some rows). A head tied to that embedding multiplies by <see cref="Table"/>, so the head sees the
/// rows the lookups see, as Hugging Face's tied <c>lm_head</c> does when PEFT ties a trainable-tokens layer to it.
/// Wrappers that leave the table alone do not implement it: the tied head then uses the embedding's own weight.
/// </summary>
public interface IEmbeddingTable
{
    /// <summary>The table [count, dim] the wrapper's lookups use now (differentiable in whatever it is built from).</summary>
    Tensor Table { get; }
}
