namespace Engine.Nn;

/// <summary>
/// The back-off search of arXiv 2310.04444 (reference amanb2000/Magic_Words <c>backoff_hack_qa.py</c>; spec
/// seeds-remaining.md §8): the base check u = ∅, greedy back-generation for |u| = 1..GreedyMaxLength
/// (<see cref="GreedyPromptSearch"/>), then GCG for each of GcgLengths in order (<see cref="GcgPromptSearch"/>, started
/// from the greedy's best prompt), stopping at the first prompt that makes y* the output. A reached result is a lower
/// bound on reachability: y* ∈ R_y^k(x0) for k = its length.
/// </summary>
public static class BackoffPromptSearch
{
    /// <summary>The reference's GCG lengths.</summary>
    public static readonly IReadOnlyList<int> DefaultGcgLengths = [4, 6, 8, 10];

    /// <summary>
    /// Searches for a prompt that reaches <paramref name="target"/>. <paramref name="gcg"/> is scaled to the allowed
    /// tokens and each length (<see cref="GcgOptions.For"/>); <paramref name="gcgLengths"/> (default 4, 6, 8, 10) must
    /// ascend and fit the context. Returns the first reaching result, or the last attempt's best prompt.
    /// </summary>
    /// <exception cref="ArgumentException">A length does not fit the context, the GCG lengths do not ascend, or a bad target or option.</exception>
    public static PromptSearchResult Search(ControlledPrompt system, int target, Generator generator, int greedyMaxLength = GreedyPromptSearch.DefaultMaxLength,
        IReadOnlyList<int>? gcgLengths = null, GcgOptions? gcg = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(generator);
        gcgLengths ??= DefaultGcgLengths;
        for (int i = 0; i < gcgLengths.Count; i++)
        {
            system.CheckLength(gcgLengths[i], "BackoffPromptSearch");
            if (gcgLengths[i] < 1 || (i > 0 && gcgLengths[i] <= gcgLengths[i - 1]))
                throw new ArgumentException($"BackoffPromptSearch: the GCG lengths must be positive and ascending, got [{string.Join(", ", gcgLengths)}]");
        }
        var options = gcg ?? new GcgOptions();
        var greedy = GreedyPromptSearch.Search(system, target, greedyMaxLength);
        if (greedy.Reached) return greedy;
        var last = greedy;
        foreach (int length in gcgLengths)
        {
            // The greedy prompt is right-aligned in the GCG prompt; a shorter GCG prompt keeps its last tokens.
            var start = greedy.Prompt.Length <= length ? greedy.Prompt : greedy.Prompt[^length..];
            last = GcgPromptSearch.Search(system, target, length, options.For(system.AllowedTokens.Count, length), generator, start);
            if (last.Reached) return last;
        }
        return last;
    }
}
