namespace Engine.Nn;

/// <summary>
/// The token-choice routing of one forward pass of a <see cref="MoeFeedForward"/> (spec structure-and-optimizers.md
/// 2.1): which k experts each token chose, which of those assignments fit the experts' capacity, and the per-expert
/// counts that reports and the load-balancing loss read. Computed on the host from the router probabilities: top-k
/// selection is not differentiable, so only the combine weights (gathered from the probabilities) carry gradients.
/// </summary>
/// <param name="Tokens">N, the tokens of the pass.</param>
/// <param name="Experts">E.</param>
/// <param name="TopK">k.</param>
/// <param name="Probabilities">The router softmax p [N, E], row-major (what observers and the balance loss's f read).</param>
/// <param name="Choices">[N, k] row-major: token t's j-th choice, by decreasing probability, ties to the lower expert index.</param>
/// <param name="Kept">[N, k]: whether that assignment fit under the capacity (all true without one).</param>
/// <param name="Capacity">C = ⌈cf·N·k/E⌉, or null when there is no capacity.</param>
public sealed record RouterDecision(int Tokens, int Experts, int TopK, double[] Probabilities, int[] Choices, bool[] Kept, int? Capacity)
{
    /// <summary>
    /// Routes <paramref name="tokens"/> tokens by their probabilities <paramref name="probabilities"/> [N, E]: the k
    /// largest per token (a strict comparison in increasing expert order, so ties go to the lower index and the result
    /// does not depend on the sort), then, with a capacity, each expert keeps its first C assignments.
    /// Priority order under capacity: every token's first choice in token order, then every token's second choice, and
    /// so on — GShard's and the WideNet reference's order (ColossalAI's Top2Router counts the top-2 ranks after all
    /// top-1 ones), which the spec's "first C tokens in token order" leaves open for k &gt; 1; for k = 1 they agree.
    /// </summary>
    /// <exception cref="ArgumentException">The sizes do not match, or a probability is not finite.</exception>
    public static RouterDecision Route(double[] probabilities, int tokens, int experts, int topK, int? capacity)
    {
        if (probabilities.Length != (long)tokens * experts)
            throw new ArgumentException($"RouterDecision.Route: {probabilities.Length} probabilities for {tokens} tokens x {experts} experts");
        if (topK < 1 || topK > experts) throw new ArgumentException($"RouterDecision.Route: k = {topK} must be in [1, {experts}]");
        var choices = new int[tokens * topK];
        var taken = new bool[experts];
        for (int t = 0; t < tokens; t++)
        {
            Array.Clear(taken);
            var row = probabilities.AsSpan(t * experts, experts);
            for (int j = 0; j < topK; j++)
            {
                int best = -1;
                for (int e = 0; e < experts; e++)
                {
                    if (!double.IsFinite(row[e]))
                        throw new ArgumentException($"MoeFeedForward: the router probability of token {t} for expert {e} is {row[e]}; the router's logits are not finite");
                    if (!taken[e] && (best < 0 || row[e] > row[best])) best = e;
                }
                taken[best] = true;
                choices[t * topK + j] = best;
            }
        }
        var kept = new bool[choices.Length];
        var load = new int[experts];
        for (int j = 0; j < topK; j++)
            for (int t = 0; t < tokens; t++)
            {
                int e = choices[t * topK + j];
                if (capacity is { } c && load[e] >= c) continue;
                kept[t * topK + j] = true;
                load[e]++;
            }
        return new RouterDecision(tokens, experts, topK, probabilities, choices, kept, capacity);
    }

    /// <summary>Assignments per expert before the capacity (tokens that chose it in any of their k slots).</summary>
    public int[] Assigned => Count(_ => true);

    /// <summary>Assignments per expert that it computed (at most <see cref="Capacity"/>).</summary>
    public int[] Processed => Count(i => Kept[i]);

    /// <summary>Assignments dropped by the capacity (the token gets nothing from that expert; the residual carries it).</summary>
    public int Dropped => Kept.Count(k => !k);

    /// <summary>
    /// Each expert's share of the N·k assignments, before the capacity: 1/E each under uniform routing. The figure of
    /// "every expert's load within 2x of uniform" is <see cref="MaxLoadOverUniform"/>.
    /// </summary>
    public double[] Loads => Assigned.Select(a => Tokens == 0 ? 0 : a / (double)(Tokens * TopK)).ToArray();

    /// <summary>max_e load_e · E: 1 for perfectly balanced routing, E when one expert takes everything.</summary>
    public double MaxLoadOverUniform => Loads.DefaultIfEmpty(0).Max() * Experts;

    /// <summary>f_{j,e}: the fraction of tokens whose slot-j choice is e, [k, E] row-major (the balance loss's f, Mixtral's top-k form).</summary>
    public double[] SlotFractions()
    {
        var f = new double[TopK * Experts];
        for (int t = 0; t < Tokens; t++)
            for (int j = 0; j < TopK; j++) f[j * Experts + Choices[t * TopK + j]] += 1.0 / Tokens;
        return f;
    }

    /// <summary>The mean router distribution over the tokens of the pass (P_e).</summary>
    public double[] MeanProbabilities()
    {
        var mean = new double[Experts];
        for (int t = 0; t < Tokens; t++)
            for (int e = 0; e < Experts; e++) mean[e] += Probabilities[t * Experts + e] / Tokens;
        return mean;
    }

    int[] Count(Func<int, bool> include)
    {
        var counts = new int[Experts];
        for (int i = 0; i < Choices.Length; i++) if (include(i)) counts[Choices[i]]++;
        return counts;
    }
}
