namespace Engine.Nn.Merging;

/// <summary>
/// WIDEN, weight disentanglement merging (Yu et al. 2024, "Extend Model Merging from Fine-Tuned to Pre-Trained Large
/// Language Models via Weight Disentanglement"; spec adapters-other.md 19; reference yule-BUAA/MergeLLM
/// <c>model_merging_methods/merging_methods.py::widen_merging</c>). Each 2-D weight is split into a magnitude per column
/// and a unit direction per column; how much each model moved a column in magnitude (|m_j(F_t) − m_j(P)|) and in
/// direction (1 − cos) is ranked within the model, the ranks are turned into per-column weights across models by a
/// softmax (ranks above the model's mean times <see cref="AboveAverageRatio"/> get <see cref="ScoreCalibration"/>
/// instead), and W = P + Σ_t ½(S^mag_t[j] + S^dir_t[j])·(F_t − P)[:, j].
/// Other tensors are weighted entry by entry: softmax over models of |F_t − P| itself, with the same calibration.
/// <para>
/// Axes: the reference takes the norm over dim 0 of a weight as PyTorch stores it, so a Linear weight [out, in] has one
/// magnitude per input column W[:, j]; our Linear stores [out, in] too, so the same axis is used. The reference transposes
/// <c>model.embed_tokens.weight</c> [vocab, dim] first, giving one magnitude per token (per row as stored); we do the same
/// for every tensor <see cref="IsEmbedding"/> names (by default the embedding tables of the engine's GPT, BERT and
/// encoder models and Hugging Face's usual names; the position table too, which Llama-style models lack). Other 2-D
/// tensors are taken as [out, in].
/// </para>
/// <para>
/// Deviations: the reference asserts every tensor is 1-D or 2-D; tensors of other ranks are merged entry by entry here.
/// A zero column has no direction (the reference divides 0 by 0); here its cosine is 0. Integer tensors are copied
/// from the base. WIDEN reads nothing from <see cref="MergeOptions"/>: it has no λ or density.
/// </para>
/// </summary>
public sealed class WidenMerge : IStateDictMerge
{
    static readonly HashSet<string> EmbeddingModules =
        ["tok", "pos", "embed_tokens", "wte", "wpe", "word_embeddings", "position_embeddings", "token_type_embeddings"];

    /// <summary>Builds the merge with the reference's defaults t_ratio = 1 and s_calib = 1.</summary>
    /// <param name="aboveAverageRatio">t_ratio: a rank above this times the model's mean rank gets the calibration score.</param>
    /// <param name="scoreCalibration">s_calib: the score given to those entries.</param>
    /// <param name="isEmbedding">Which 2-D tensors are embedding tables [entries, dim] (default: <see cref="IsEmbeddingName"/>).</param>
    /// <exception cref="ArgumentException">A non-finite ratio or calibration value.</exception>
    public WidenMerge(double aboveAverageRatio = 1.0, double scoreCalibration = 1.0, Func<string, bool>? isEmbedding = null)
    {
        if (!double.IsFinite(aboveAverageRatio) || !double.IsFinite(scoreCalibration))
            throw new ArgumentException($"widen: t_ratio and s_calib must be finite, got {aboveAverageRatio} and {scoreCalibration}");
        AboveAverageRatio = aboveAverageRatio;
        ScoreCalibration = scoreCalibration;
        IsEmbedding = isEmbedding ?? IsEmbeddingName;
    }

    /// <inheritdoc/>
    public string Name => "widen";

    /// <summary>t_ratio (reference <c>above_average_value_ratio</c>, default 1).</summary>
    public double AboveAverageRatio { get; }

    /// <summary>s_calib (reference <c>score_calibration_value</c>, default 1).</summary>
    public double ScoreCalibration { get; }

    /// <summary>Whether a 2-D tensor is an embedding table, whose rows (not columns) get the magnitudes.</summary>
    public Func<string, bool> IsEmbedding { get; }

    /// <summary>
    /// True for the <c>weight</c> of a module named <c>tok</c>, <c>pos</c>, <c>embed_tokens</c>, <c>wte</c>, <c>wpe</c>,
    /// <c>word_embeddings</c>, <c>position_embeddings</c> or <c>token_type_embeddings</c>, at any depth.
    /// </summary>
    public static bool IsEmbeddingName(string name)
    {
        var parts = name.Split('.');
        return parts.Length >= 2 && parts[^1] == "weight" && EmbeddingModules.Contains(parts[^2]);
    }

    /// <inheritdoc/>
    public Dictionary<string, Tensor> Merge(IReadOnlyDictionary<string, Tensor> baseModel, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> models)
    {
        MergeInputs.Check(Name, baseModel, models);
        var result = new Dictionary<string, Tensor>();
        foreach (var (name, b) in baseModel)
        {
            if (!MergeValues.IsMerged(b) || b.Numel == 0) { result[name] = MergeValues.Copy(b); continue; }
            var p = MergeValues.Of(b);
            var deltas = MergeValues.Deltas(Name, name, baseModel, models);
            var merged = b.Rank == 2
                ? MergeColumns(p, deltas, b.Shape[0], b.Shape[1], IsEmbedding(name))
                : MergeEntries(p, deltas);
            result[name] = MergeValues.Like(merged, b);
        }
        return result;
    }

    /// <summary>
    /// A 2-D weight of shape [rows, cols] stored row-major. Columns are W[:, j] (one per input feature), or for an
    /// embedding table the rows (the reference transposes it to dim × vocab first).
    /// </summary>
    double[] MergeColumns(double[] p, double[][] deltas, int rows, int cols, bool embedding)
    {
        int n = deltas.Length;
        // Column j is the vector of `length` entries at index(j, k) = j·colStep + k·entryStep.
        int count = embedding ? rows : cols, length = embedding ? cols : rows;
        int colStep = embedding ? cols : 1, entryStep = embedding ? 1 : cols;
        var magnitude = new double[n][];
        var direction = new double[n][];
        for (int t = 0; t < n; t++)
        {
            magnitude[t] = new double[count];
            direction[t] = new double[count];
            for (int j = 0; j < count; j++)
            {
                double pp = 0, ff = 0, pf = 0;
                for (int k = 0; k < length; k++)
                {
                    int at = j * colStep + k * entryStep;
                    double pv = p[at], fv = pv + deltas[t][at];
                    pp += pv * pv; ff += fv * fv; pf += pv * fv;
                }
                double pNorm = Math.Sqrt(pp), fNorm = Math.Sqrt(ff);
                // Δm_t[j] = |m_j(F_t) − m_j(P)|; Δd_t[j] = 1 − cos(D(F_t)[:, j], D(P)[:, j]), the cosine of the columns.
                magnitude[t][j] = Math.Abs(fNorm - pNorm);
                direction[t][j] = 1 - (pNorm > 0 && fNorm > 0 ? pf / (pNorm * fNorm) : 0);
            }
        }
        // A model's ranks are 0, 1/c, ..., (c−1)/c whatever the data: their mean is exactly (c − 1)/(2c).
        double rankMean = (count - 1) / (2.0 * count);
        var magnitudeScores = Scores(RankWithinModel(magnitude), rankMean);
        var directionScores = Scores(RankWithinModel(direction), rankMean);
        var merged = (double[])p.Clone();
        for (int j = 0; j < count; j++)
            for (int t = 0; t < n; t++)
            {
                double w = 0.5 * (magnitudeScores[t][j] + directionScores[t][j]);
                for (int k = 0; k < length; k++)
                {
                    int at = j * colStep + k * entryStep;
                    merged[at] += w * deltas[t][at];
                }
            }
        return merged;
    }

    /// <summary>1-D (and other non-matrix) tensors: scores from the raw |F_t − P| of each entry.</summary>
    double[] MergeEntries(double[] p, double[][] deltas)
    {
        var scores = Scores(deltas.Select(d => d.Select(Math.Abs).ToArray()).ToArray(), mean: null);
        var merged = (double[])p.Clone();
        for (int t = 0; t < deltas.Length; t++)
            for (int k = 0; k < p.Length; k++) merged[k] += scores[t][k] * deltas[t][k];
        return merged;
    }

    /// <summary>ρ_t[j] = (position of j in a stable ascending sort of model t's values) / count.</summary>
    static double[][] RankWithinModel(double[][] values) => values.Select(row =>
    {
        var order = Enumerable.Range(0, row.Length).OrderBy(j => row[j]).ToArray(); // LINQ's OrderBy is stable
        var rank = new double[row.Length];
        for (int pos = 0; pos < order.Length; pos++) rank[order[pos]] = (double)pos / row.Length;
        return rank;
    }).ToArray();

    /// <summary>
    /// Softmax over models of each entry's significance, then s_calib wherever the significance exceeds t_ratio times
    /// that model's mean significance (reference <c>compute_importance_scores</c>). <paramref name="mean"/>, when given,
    /// is that mean known exactly: the reference sums the ranks in floating point, so whether the middle rank of an odd
    /// column count sits "above average" depends on rounding there (torch's float64 mean of 0, 1/7, ..., 6/7 falls below
    /// 3/7); with the exact mean it never does.
    /// </summary>
    double[][] Scores(double[][] significance, double? mean)
    {
        int n = significance.Length, count = significance[0].Length;
        var scores = new double[n][];
        for (int t = 0; t < n; t++) scores[t] = new double[count];
        for (int j = 0; j < count; j++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int t = 0; t < n; t++) max = Math.Max(max, significance[t][j]);
            for (int t = 0; t < n; t++) sum += scores[t][j] = Math.Exp(significance[t][j] - max);
            for (int t = 0; t < n; t++) scores[t][j] /= sum;
        }
        for (int t = 0; t < n; t++)
        {
            double limit = (mean ?? significance[t].Average()) * AboveAverageRatio;
            for (int j = 0; j < count; j++)
                if (significance[t][j] > limit) scores[t][j] = ScoreCalibration;
        }
        return scores;
    }
}
