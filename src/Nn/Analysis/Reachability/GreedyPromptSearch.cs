namespace Engine.Nn;

/// <summary>
/// Greedy back-generation of a control prompt (arXiv 2310.04444, section 5 "back-off" search; reference
/// amanb2000/Magic_Words <c>backoff_hack_qa.py</c>; spec seeds-remaining.md §8): round L tries every allowed token v at
/// the front of the previous round's prompt, v ⊕ u_{L−1} ⊕ x0, keeps the one with the least CE(y* | ·), and stops as
/// soon as the output is y*. Round 0 is the base check u = ∅.
/// One deliberate difference from the reference: all |V| candidates of a round are scored anyway, so when any of them
/// makes y* the output the round keeps that one (the least CE among them), where the reference looks only at the
/// argmin-CE candidate. Then the first round is the exhaustive search over |u| = 1 exactly, and greedy never misses a
/// token that one more front token reaches.
/// <code>var result = GreedyPromptSearch.Search(system, target: 4, maxLength: 3); if (result.Reached) Use(result.Prompt);</code>
/// </summary>
public static class GreedyPromptSearch
{
    /// <summary>The spec's greedy lengths: rounds 1, 2, 3.</summary>
    public const int DefaultMaxLength = 3;

    /// <summary>
    /// Runs rounds 0..<paramref name="maxLength"/> and returns the first prompt that reaches <paramref name="target"/>, or
    /// the last round's prompt (the best the greedy found, which GCG starts from) with Reached = false.
    /// </summary>
    /// <exception cref="ArgumentException">The target is outside the vocabulary, or maxLength is negative or does not fit the context.</exception>
    public static PromptSearchResult Search(ControlledPrompt system, int target, int maxLength = DefaultMaxLength) => Rounds(system, target, maxLength)[^1];

    /// <summary>Every round's kept prompt, round 0 (u = ∅) first, up to the round that reached the target or <paramref name="maxLength"/>.</summary>
    public static IReadOnlyList<PromptSearchResult> Rounds(ControlledPrompt system, int target, int maxLength = DefaultMaxLength)
    {
        ArgumentNullException.ThrowIfNull(system);
        CheckTarget(system, target, "GreedyPromptSearch");
        system.CheckLength(maxLength, "GreedyPromptSearch");
        var baseScores = system.Score(Array.Empty<int>());
        var rounds = new List<PromptSearchResult> { Result(baseScores, 0, target, [], "base") };
        var previous = Array.Empty<int>();
        for (int length = 1; length <= maxLength && !rounds[^1].Reached; length++)
        {
            var candidates = system.AllowedTokens.Select(v => (int[])[v, .. previous]).ToArray();
            var scores = system.Score(candidates);
            int best = -1;
            bool bestReaches = false;
            for (int r = 0; r < candidates.Length; r++)
            {
                bool reaches = scores.ArgMax(r) == target;
                // A candidate that reaches the target beats one that does not; among equals the lower CE wins, then the lower id.
                if (best < 0 || (reaches && !bestReaches) || (reaches == bestReaches && scores.Loss(r, target) < scores.Loss(best, target)))
                {
                    best = r;
                    bestReaches = reaches;
                }
            }
            previous = candidates[best];
            rounds.Add(Result(scores, best, target, previous, "greedy"));
        }
        return rounds;
    }

    internal static PromptSearchResult Result(NextTokenScores scores, int row, int target, int[] prompt, string method)
    {
        int output = scores.ArgMax(row);
        return new PromptSearchResult(target, prompt, output == target, scores.Loss(row, target), output, method);
    }

    internal static void CheckTarget(ControlledPrompt system, int target, string caller)
    {
        if (target < 0 || target >= system.VocabSize)
            throw new ArgumentException($"{caller}: target token {target} is outside the vocabulary [0, {system.VocabSize})");
    }
}
