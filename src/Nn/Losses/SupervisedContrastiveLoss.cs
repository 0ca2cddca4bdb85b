namespace Engine.Nn;

/// <summary>
/// The supervised contrastive loss (SupCon; Khosla et al. 2020, eq. 2, "L^sup_out"; spec seeds-remaining.md §11):
/// for a batch of embeddings z [N, C] with class labels, every other sample of the anchor's class is a positive,
/// <code>
/// L = mean over anchors i with P(i) ≠ ∅ of  −1/|P(i)| Σ_{p ∈ P(i)} log [ exp(ẑ_i·ẑ_p/τ) / Σ_{a ≠ i} exp(ẑ_i·ẑ_a/τ) ]
/// </code>
/// on L2-normalised rows ẑ. Several views of one example are simply rows with the same label. With one positive per
/// anchor (two views, all labels distinct) it is SimCLR's NT-Xent / InfoNCE.
/// An anchor alone in its class has no positive and is left out of the mean (the paper's batches always have one; the
/// released SupContrast code counts such anchors as 0 in the mean instead, which only rescales the loss); a batch where
/// no anchor has a positive gives 0 with zero gradient. The released code's extra factor τ/τ_base (1 at the defaults)
/// is not applied.
/// <code>
/// var loss = SupervisedContrastiveLoss.Compute(embeddings, labels, temperature: 0.1);
/// </code>
/// </summary>
public static class SupervisedContrastiveLoss
{
    /// <summary>The loss (a scalar of <paramref name="embeddings"/>' dtype) for rows [N, C] labelled by <paramref name="labels"/>.</summary>
    /// <exception cref="ArgumentException">The embeddings are not [N, C] or there is not one label per row.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The temperature is not positive and finite.</exception>
    public static Tensor Compute(Tensor embeddings, IReadOnlyList<long> labels, double temperature = 0.1)
    {
        if (embeddings.Rank != 2)
            throw new ArgumentException($"SupervisedContrastiveLoss: expects embeddings [batch, features], got {Shapes.Format(embeddings.Shape)}");
        int n = embeddings.Size(0);
        if (labels.Count != n) throw new ArgumentException($"SupervisedContrastiveLoss: {labels.Count} labels for a batch of {n}");
        if (!(temperature > 0) || !double.IsFinite(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), $"SupervisedContrastiveLoss: temperature must be positive and finite, got {temperature}");

        // w_ij = 1 / (|P(i)| · #anchors) for each positive pair: the whole average as one constant weight matrix.
        var positives = new int[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (i != j && labels[i] == labels[j]) positives[i]++;
        int anchors = positives.Count(p => p > 0);
        var weights = new double[n * n];
        var self = new bool[n * n];
        for (int i = 0; i < n; i++)
        {
            self[i * n + i] = true;
            for (int j = 0; j < n; j++)
                if (i != j && labels[i] == labels[j]) weights[i * n + j] = 1.0 / (positives[i] * (double)anchors);
        }
        if (anchors == 0) return embeddings.Sum() * 0.0;

        var z = RowNormalization.L2(embeddings);
        var s = z.MatMul(z.T) / temperature;
        // The anchor itself is out of the denominator; a large finite fill has exp exactly 0 after LogSumExp's max shift.
        var selfMask = Tensor.FromArray(self, [n, n]).To(embeddings.Device);
        var logDenominator = s.MaskedFill(selfMask, -1e30).LogSumExp(1, keepDim: true);
        var logProbability = s - logDenominator;
        var w = Tensor.FromArray(weights, [n, n]).To(embeddings.DType).To(embeddings.Device);
        return -(w * logProbability).Sum();
    }
}
