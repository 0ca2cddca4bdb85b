namespace Engine.Nn;

/// <summary>
/// Settings of <see cref="GcgPromptSearch"/>. The defaults are the reference's (amanb2000/Magic_Words
/// <c>backoff_hack_qa.py</c> calls <c>easy_gcg_qa_ids</c> with 34 iterations, top_k 128, batch 768), made for
/// vocabularies of tens of thousands of tokens; <see cref="For"/> scales them to a small vocabulary.
/// </summary>
/// <param name="Iterations">Gradient steps (each one gradient and one batch of swaps).</param>
/// <param name="TopK">Candidate tokens per position: the most negative one-hot gradient entries.</param>
/// <param name="Swaps">Single-token swaps evaluated per iteration (random position, random candidate of its top-k).</param>
public sealed record GcgOptions(int Iterations = 34, int TopK = 128, int Swaps = 768)
{
    /// <summary>
    /// These settings for a prompt of <paramref name="length"/> tokens over <paramref name="allowedTokens"/> tokens:
    /// top_k is capped by the tokens there are, and the swaps by the distinct single swaps there are (length · top_k);
    /// with 27 characters the reference's 768 swaps would score each of the ≤ 108 swaps of a 4-token prompt about
    /// seven times. Sampling stays with replacement, as in the reference.
    /// </summary>
    public GcgOptions For(int allowedTokens, int length) =>
        this with { TopK = Math.Min(TopK, allowedTokens), Swaps = Math.Min(Swaps, length * Math.Min(TopK, allowedTokens)) };

    /// <summary>Throws when a setting is below 1.</summary>
    public void Check()
    {
        if (Iterations < 1 || TopK < 1 || Swaps < 1)
            throw new ArgumentException($"GcgOptions: Iterations {Iterations}, TopK {TopK} and Swaps {Swaps} must all be at least 1");
    }
}
