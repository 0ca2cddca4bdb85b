namespace Engine.Nn;

/// <summary>
/// The Matrix Nuclear-Norm (MNN) of a model's response, an evaluation metric of how much information and how little
/// redundancy a model's representations carry (Li et al. 2024, "Large Language Model Evaluation via Matrix Nuclear-Norm";
/// spec structure-and-optimizers.md §4.4; reference MLGroupJLU/MatrixNuclearNorm <c>code/MNN.py</c>). On the last
/// layer's hidden states R [T, H] of one response: subtract each column's mean over the tokens, scale each row (token)
/// to unit L2 norm, take the column norms c_j, sort them descending and sum the first D = min(T, H); the response's
/// score is that sum divided by T, and a data set's is the mean over responses, ignoring NaNs. The sum of column norms
/// stands in for the nuclear norm (the sum of singular values, which it equals when the columns are orthogonal) at
/// O(T·H) instead of an SVD.
/// <code>double score = MatrixNuclearNorm.PerToken(gpt.LastHiddenState(ids).Squeeze(0));</code>
/// </summary>
public static class MatrixNuclearNorm
{
    /// <summary>
    /// The normalised matrix [T, H] (Float64): columns centred over the tokens, then rows scaled to unit L2 norm. A row
    /// whose centred values are all zero (always so when T = 1) becomes NaN, as the reference's 0/0 does.
    /// </summary>
    public static Tensor Normalize(Tensor hidden)
    {
        var (values, t, h) = Read("Normalize", hidden);
        for (int j = 0; j < h; j++)
        {
            double mean = 0;
            for (int i = 0; i < t; i++) mean += values[i * h + j];
            mean /= t;
            for (int i = 0; i < t; i++) values[i * h + j] -= mean;
        }
        for (int i = 0; i < t; i++)
        {
            double squares = 0;
            for (int j = 0; j < h; j++) squares += values[i * h + j] * values[i * h + j];
            double norm = Math.Sqrt(squares);
            // 0/0 is NaN on purpose (reference MNN.py's normalize): a degenerate response has no score.
            for (int j = 0; j < h; j++) values[i * h + j] /= norm;
        }
        return Tensor.FromArray(values, [t, h]);
    }

    /// <summary>
    /// Σ_{j ≤ min(T, H)} c_j of the <see cref="Normalize">normalised</see> matrix, c sorted descending: the approximate
    /// nuclear norm, not divided by T. NaN when a row is degenerate (T = 1, or a token equal to the mean of all).
    /// </summary>
    public static double Sum(Tensor hidden)
    {
        var normalized = Normalize(hidden);
        int t = normalized.Size(0), h = normalized.Size(1);
        var values = normalized.ToDoubleArray();
        var norms = new double[h];
        for (int j = 0; j < h; j++)
        {
            double squares = 0;
            for (int i = 0; i < t; i++) squares += values[i * h + j] * values[i * h + j];
            norms[j] = Math.Sqrt(squares);
        }
        if (norms.Any(double.IsNaN)) return double.NaN;
        Array.Sort(norms);
        Array.Reverse(norms);
        return norms.Take(Math.Min(t, h)).Sum();
    }

    /// <summary>The response's score, <see cref="Sum"/> / T (the reference's <c>mnn / len(token_ids)</c>).</summary>
    public static double PerToken(Tensor hidden) => Sum(hidden) / hidden.Size(0);

    /// <summary>
    /// The mean of <paramref name="scores"/> over the finite ones (NaNs of degenerate responses are skipped); NaN when
    /// there is none.
    /// </summary>
    public static double DatasetAverage(IEnumerable<double> scores)
    {
        var finite = scores.Where(s => !double.IsNaN(s)).ToList();
        return finite.Count == 0 ? double.NaN : finite.Average();
    }

    static (double[] Values, int T, int H) Read(string op, Tensor hidden)
    {
        if (hidden.Rank != 2 || hidden.Size(0) == 0 || hidden.Size(1) == 0)
            throw new ArgumentException($"MatrixNuclearNorm.{op}: expects hidden states [tokens, hidden] with at least one token and one feature, got {Shapes.Format(hidden.Shape)}");
        return (hidden.ToDoubleArray(), hidden.Size(0), hidden.Size(1));
    }
}
