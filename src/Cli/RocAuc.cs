namespace Engine.Cli;

/// <summary>The area under the ROC curve of scores against 0/1 labels.</summary>
static class RocAuc
{
    /// <summary>
    /// The Mann–Whitney form: the probability that a random positive scores above a random negative, ties counting
    /// one half (average ranks). NaN when one class is absent.
    /// </summary>
    public static double Of(IReadOnlyList<double> scores, IReadOnlyList<int> labels)
    {
        if (scores.Count != labels.Count) throw new ArgumentException($"RocAuc: {scores.Count} scores for {labels.Count} labels");
        long positives = labels.Count(l => l == 1), negatives = labels.Count - positives;
        if (positives == 0 || negatives == 0) return double.NaN;
        var order = Enumerable.Range(0, scores.Count).OrderBy(i => scores[i]).ToArray();
        double rankSum = 0;
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && scores[order[end + 1]] == scores[order[start]]) end++;
            double averageRank = (start + end) / 2.0 + 1;
            for (int j = start; j <= end; j++) if (labels[order[j]] == 1) rankSum += averageRank;
            start = end + 1;
        }
        return (rankSum - positives * (positives + 1) / 2.0) / ((double)positives * negatives);
    }
}
