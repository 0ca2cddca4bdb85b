namespace Engine.Nn;

/// <summary>
/// The k-ε controllability measurement of arXiv 2310.04444 (section 5; spec seeds-remaining.md §8) on a set of imposed
/// states: for every state x0 and every target y* in the vocabulary, the exact reachable set for |u| ≤ k by enumeration
/// and the back-off search's lower bound, summarised as the reachable fraction vs k and vs the target's base rank.
/// (1 − the fraction at k is the ε of k-ε controllability over these pairs.)
/// </summary>
public static class ReachabilitySurvey
{
    /// <summary>
    /// Surveys every (state, target) pair. <paramref name="exactMaxLength"/> null skips the enumeration;
    /// <paramref name="progress"/> is told after each state (states done, states in all).
    /// </summary>
    public static IReadOnlyList<ReachabilityRecord> Run(Gpt model, IReadOnlyList<int[]> states, int? exactMaxLength, Generator generator,
        int greedyMaxLength = GreedyPromptSearch.DefaultMaxLength, IReadOnlyList<int>? gcgLengths = null, GcgOptions? gcg = null,
        IReadOnlyCollection<int>? blacklist = null, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(states);
        var records = new List<ReachabilityRecord>();
        for (int s = 0; s < states.Count; s++)
        {
            var system = new ControlledPrompt(model, states[s], blacklist);
            var exact = exactMaxLength is { } k ? ExactReachableSet.Compute(system, k) : null;
            var baseScores = system.Score(Array.Empty<int>());
            for (int y = 0; y < system.VocabSize; y++)
            {
                var found = BackoffPromptSearch.Search(system, y, generator, greedyMaxLength, gcgLengths, gcg);
                int greedy = found.Reached && found.Method != "gcg" ? found.Length : -1;
                records.Add(new ReachabilityRecord(states[s], y, baseScores.Rank(0, y), exact?.MinimalLength(y), greedy, found.Reached ? found.Length : -1));
            }
            progress?.Invoke(s + 1, states.Count);
        }
        return records;
    }

    /// <summary>The fraction of <paramref name="records"/> whose length by <paramref name="length"/> is in [0, <paramref name="k"/>] (NaN when there are none).</summary>
    public static double FractionWithin(IReadOnlyCollection<ReachabilityRecord> records, Func<ReachabilityRecord, int?> length, int k) =>
        records.Count == 0 ? double.NaN : records.Count(r => length(r) is >= 0 and var l && l <= k) / (double)records.Count;
}
