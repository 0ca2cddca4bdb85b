namespace Engine.Cli;

/// <summary>k-nearest-neighbour classification of unit-length embeddings by cosine similarity.</summary>
static class NearestNeighbours
{
    /// <summary>
    /// For each row of <paramref name="queries"/> [Q, C], the majority label among the <paramref name="k"/> rows of
    /// <paramref name="references"/> [R, C] with the highest dot product (the cosine for unit rows); a tied vote goes
    /// to the label of the nearest neighbour among the tied labels, and equal similarities to the lower index.
    /// </summary>
    public static int[] Vote(Tensor queries, Tensor references, IReadOnlyList<int> labels, int k)
    {
        if (k < 1 || k > references.Size(0)) throw new ArgumentException($"NearestNeighbours: k must be in [1, {references.Size(0)}], got {k}");
        if (labels.Count != references.Size(0)) throw new ArgumentException($"NearestNeighbours: {labels.Count} labels for {references.Size(0)} reference rows");
        int r = references.Size(0);
        var similarity = queries.To(DType.Float64).MatMul(references.To(DType.Float64).T).ToArray<double>();
        var votes = new int[queries.Size(0)];
        for (int q = 0; q < votes.Length; q++)
        {
            var nearest = Enumerable.Range(0, r).OrderByDescending(j => similarity[(long)q * r + j]).ThenBy(j => j).Take(k).ToList();
            var counts = nearest.GroupBy(j => labels[j]).Select(g => (Label: g.Key, Count: g.Count(), First: nearest.IndexOf(g.First()))).ToList();
            int top = counts.Max(c => c.Count);
            votes[q] = counts.Where(c => c.Count == top).MinBy(c => c.First).Label;
        }
        return votes;
    }
}
