namespace Engine.Nn;

/// <summary>Which pairs of a batch a <see cref="ClusterContrastiveLoss"/> keeps as negatives.</summary>
public enum ContrastiveNegatives
{
    /// <summary>
    /// Only pairs from the same cluster: Multistage Contrastive Learning as CLIP-MoE's code runs it
    /// (<c>train/dataset.py</c>, <c>MCL_batch_sampler_DDP</c> fills each batch from one pseudo-label), so a stage must
    /// separate texts that the earlier stages' features put together, and learns what those features missed.
    /// </summary>
    SameCluster,

    /// <summary>
    /// Only pairs from different clusters: same-cluster pairs are not treated as negatives (the wording of spec
    /// structure-and-optimizers.md 2.3). Kept for comparison; it rewards what the earlier features already separate.
    /// </summary>
    OtherClusters,
}

/// <summary>
/// Symmetric InfoNCE (CLIP's loss, Radford et al. 2021; SimCSE, Gao et al. 2021) between two views a, b [B, C] of the
/// same B sequences, with the negatives restricted by cluster: for each row i,
/// <c>ℓ_i = −s_ii + log Σ_{j allowed} exp s_ij</c> with <c>s = â b̂ᵀ / τ</c> on L2-normalised rows, the positive
/// j = i always allowed; the loss is (mean_i ℓ(a→b) + mean_i ℓ(b→a)) / 2. Masking the disallowed pairs out of the
/// denominator of a mixed batch gives each row the loss it would have in a batch drawn from its own cluster
/// (<see cref="ContrastiveNegatives.SameCluster"/>), which is what CLIP-MoE's cluster batch sampler does
/// (<c>train/dataset.py</c>, <c>clipmoe/model_clipmoe.py</c> forward; spec 2.3). The spec's sentence ("stops treating
/// same-cluster pairs as negatives") says the opposite of that code; the code is followed by default and the spec's
/// reading is <see cref="ContrastiveNegatives.OtherClusters"/>. Left out from the reference: its label smoothing 0.1.
/// <code>
/// var loss = ClusterContrastiveLoss.Compute(view1, view2, clusters, temperature: 0.05);
/// </code>
/// </summary>
public static class ClusterContrastiveLoss
{
    /// <summary>The loss (a scalar of <paramref name="a"/>'s dtype).</summary>
    /// <exception cref="ArgumentException">The views are not [B, C] of one shape, or the clusters are not B.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The temperature is not positive and finite.</exception>
    public static Tensor Compute(Tensor a, Tensor b, IReadOnlyList<long> clusters, double temperature,
        ContrastiveNegatives negatives = ContrastiveNegatives.SameCluster)
    {
        if (a.Rank != 2 || !a.Shape.SequenceEqual(b.Shape))
            throw new ArgumentException($"ClusterContrastiveLoss: expects two views [batch, features] of one shape, got {Shapes.Format(a.Shape)} and {Shapes.Format(b.Shape)}");
        int n = a.Size(0);
        if (clusters.Count != n) throw new ArgumentException($"ClusterContrastiveLoss: {clusters.Count} cluster labels for a batch of {n}");
        if (!(temperature > 0) || !double.IsFinite(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), $"ClusterContrastiveLoss: temperature must be positive and finite, got {temperature}");

        var disallowed = new float[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                bool same = clusters[i] == clusters[j];
                bool allowed = i == j || (negatives == ContrastiveNegatives.SameCluster ? same : !same);
                disallowed[i * n + j] = allowed ? 0 : 1;
            }
        var mask = Tensor.FromArray(disallowed, [n, n]).To(a.Device).Gt(0.5);

        var an = RowNormalization.L2(a);
        var bn = RowNormalization.L2(b);
        var s = an.MatMul(bn.T) / temperature;
        var positive = (an * bn).Sum(1) / temperature;
        // A large finite fill rather than −∞: its exp is exactly 0 after the max shift, and no ∞·0 can reach a gradient.
        var masked = s.MaskedFill(mask, -1e30);
        var aToB = (masked.LogSumExp(1) - positive).Mean();
        var bToA = (masked.T.LogSumExp(1) - positive).Mean();
        return (aToB + bToA) * 0.5;
    }
}
