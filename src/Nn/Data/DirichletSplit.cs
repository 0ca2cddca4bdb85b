namespace Engine.Nn;

/// <summary>
/// The label-skewed non-IID partition of federated-learning benchmarks (Hsu, Qi and Brown 2019, "Measuring the effects
/// of non-identical data distribution"; FedPEFT's harness, spec seeds-remaining.md §11): for each class, proportions
/// p ~ Dirichlet(α·1_K) over the K clients, and the class's examples, shuffled, are cut into K consecutive runs of
/// sizes round(n_c · cumulative p). Small α gives each client few classes; large α approaches an IID split. A draw in
/// which some client gets fewer than the minimum is drawn again (as FedML's partitioner does), up to a limit.
/// </summary>
public static class DirichletSplit
{
    /// <summary>The example indices of each of <paramref name="clients"/> clients, each list in increasing order.</summary>
    /// <exception cref="ArgumentException">Fewer than one client, no examples, or no draw within <paramref name="maxDraws"/> gives every client <paramref name="minPerClient"/> examples (α too small or too few examples for K clients).</exception>
    /// <exception cref="ArgumentOutOfRangeException">α is not positive and finite.</exception>
    public static int[][] Split(IReadOnlyList<int> labels, int clients, double alpha, Generator generator, int minPerClient = 1, int maxDraws = 100)
    {
        if (clients < 1) throw new ArgumentException($"DirichletSplit: needs at least one client, got {clients}");
        if (labels.Count < (long)clients * minPerClient)
            throw new ArgumentException($"DirichletSplit: {labels.Count} examples cannot give {clients} clients {minPerClient} each");
        if (!(alpha > 0) || !double.IsFinite(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "DirichletSplit: α must be positive and finite");
        var sampler = new GammaSampling(generator);
        var classes = Enumerable.Range(0, labels.Count).GroupBy(i => labels[i]).OrderBy(g => g.Key).ToList();
        var concentration = Enumerable.Repeat(alpha, clients).ToArray();
        for (int draw = 0; draw < maxDraws; draw++)
        {
            var parts = Enumerable.Range(0, clients).Select(_ => new List<int>()).ToArray();
            foreach (var members in classes)
            {
                var keys = Tensor.Rand([members.Count()], dtype: DType.Float64, generator: generator).ToArray<double>();
                var shuffled = members.Select((index, j) => (index, key: keys[j])).OrderBy(p => p.key).Select(p => p.index).ToArray();
                var p = sampler.Dirichlet(concentration);
                double cumulative = 0;
                int start = 0;
                for (int k = 0; k < clients; k++)
                {
                    cumulative += p[k];
                    int end = k == clients - 1 ? shuffled.Length : Math.Min(shuffled.Length, (int)Math.Round(cumulative * shuffled.Length));
                    parts[k].AddRange(shuffled[start..Math.Max(start, end)]);
                    start = Math.Max(start, end);
                }
            }
            if (parts.All(part => part.Count >= minPerClient)) return parts.Select(part => part.Order().ToArray()).ToArray();
        }
        throw new ArgumentException($"DirichletSplit: no split with α = {alpha} gave each of {clients} clients at least {minPerClient} examples in {maxDraws} draws; raise α or lower the number of clients");
    }
}
