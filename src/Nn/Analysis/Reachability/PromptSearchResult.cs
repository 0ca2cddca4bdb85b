namespace Engine.Nn;

/// <summary>
/// What a control-prompt search found for a target y*: the prompt u (possibly empty), whether argmax P(· | u ⊕ x0) = y*,
/// CE(y* | u ⊕ x0), the output the prompt gives, and the search that found it ("base", "greedy", "gcg").
/// A reached result is a certificate: y* is in the reachable set with |u| ≤ Prompt.Length.
/// </summary>
public sealed record PromptSearchResult(int Target, int[] Prompt, bool Reached, double Loss, int Output, string Method)
{
    /// <summary>The prompt length |u|.</summary>
    public int Length => Prompt.Length;
}
