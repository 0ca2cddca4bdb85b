namespace Engine.Nn;

/// <summary>
/// Greedy coordinate gradient (GCG, Zou et al. 2023) for a control prompt of fixed length, as the back-off search of
/// arXiv 2310.04444 runs it for k ∈ {4, 6, 8, 10} (reference amanb2000/Magic_Words <c>easy_gcg.py</c>; spec
/// seeds-remaining.md §8). Each iteration: the one-hot gradient of CE(y* | u ⊕ x0) (<see cref="OneHotPromptGradient"/>),
/// blacklisted tokens set to +∞, the top_k most negative tokens per position, a batch of single-token swaps (a random
/// position, a random one of its candidates) scored in one batched pass, and the batch's least-CE prompt kept.
/// Differences from the reference, both from the spec or for reachability: the start is a random prompt with the
/// greedy's best prompt right-aligned in it (the reference starts from a random prompt), and the search stops as soon
/// as any scored prompt makes y* the output (the reference runs every iteration and checks only the final prompt).
/// <code>var r = GcgPromptSearch.Search(system, target, length: 6, new GcgOptions().For(27, 6), new Generator(1), greedy.Prompt);</code>
/// </summary>
public static class GcgPromptSearch
{
    /// <summary>
    /// Runs GCG for a prompt of <paramref name="length"/> tokens, starting from <paramref name="start"/> right-aligned
    /// in random allowed tokens drawn from <paramref name="generator"/>. Returns the first prompt that reaches the target
    /// or, when none does, the prompt of least CE among all those scored.
    /// </summary>
    /// <exception cref="ArgumentException">length &lt; 1 or beyond the context; the start is longer than length or holds a blacklisted token; bad options or target.</exception>
    public static PromptSearchResult Search(ControlledPrompt system, int target, int length, GcgOptions options, Generator generator, int[]? start = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(generator);
        GreedyPromptSearch.CheckTarget(system, target, "GcgPromptSearch");
        options.Check();
        if (length < 1) throw new ArgumentException($"GcgPromptSearch: the prompt length must be at least 1, got {length}");
        system.CheckLength(length, "GcgPromptSearch");
        start ??= [];
        if (start.Length > length) throw new ArgumentException($"GcgPromptSearch: the start prompt has {start.Length} tokens, more than the length {length}");
        foreach (int token in start)
            if (!system.IsAllowed(token)) throw new ArgumentException($"GcgPromptSearch: the start prompt holds token {token}, which is blacklisted or outside the vocabulary");
        var allowed = system.AllowedTokens;
        int topK = Math.Min(options.TopK, allowed.Count);

        var current = RandomTokens(allowed, length - start.Length, generator).Concat(start).ToArray();
        var best = GreedyPromptSearch.Result(system.Score(current), 0, target, current, "gcg");
        if (best.Reached) return best;
        for (int iteration = 0; iteration < options.Iterations; iteration++)
        {
            var (gradient, _) = OneHotPromptGradient.Compute(system, current, target);
            var candidates = TopCandidates(gradient, system, topK);
            var positions = Tensor.Randint(0, length, [options.Swaps], generator: generator).ToArray<long>();
            var picks = Tensor.Randint(0, topK, [options.Swaps], generator: generator).ToArray<long>();
            var batch = new int[options.Swaps][];
            for (int s = 0; s < batch.Length; s++)
            {
                batch[s] = (int[])current.Clone();
                batch[s][positions[s]] = candidates[positions[s]][picks[s]];
            }
            var scores = system.Score(batch);
            int kept = 0, reached = -1;
            for (int s = 0; s < batch.Length; s++)
            {
                if (scores.Loss(s, target) < scores.Loss(kept, target)) kept = s;
                if (scores.ArgMax(s) == target && (reached < 0 || scores.Loss(s, target) < scores.Loss(reached, target))) reached = s;
            }
            if (reached >= 0) return GreedyPromptSearch.Result(scores, reached, target, batch[reached], "gcg");
            current = batch[kept];
            if (scores.Loss(kept, target) < best.Loss) best = GreedyPromptSearch.Result(scores, kept, target, current, "gcg");
        }
        return best;
    }

    // Per position, the top_k allowed tokens with the most negative gradient (first-order largest loss decrease), ties by id.
    static int[][] TopCandidates(double[,] gradient, ControlledPrompt system, int topK)
    {
        int length = gradient.GetLength(0);
        var result = new int[length][];
        for (int p = 0; p < length; p++)
            result[p] = system.AllowedTokens.OrderBy(v => gradient[p, v]).ThenBy(v => v).Take(topK).ToArray();
        return result;
    }

    static int[] RandomTokens(IReadOnlyList<int> allowed, int count, Generator generator) =>
        count == 0 ? [] : Tensor.Randint(0, allowed.Count, [count], generator: generator).ToArray<long>().Select(i => allowed[(int)i]).ToArray();
}
