using Engine.Recording;

namespace Engine.Nn;

/// <summary>Loss functions, mean-reduced as PyTorch's defaults.</summary>
public static class Losses
{
    /// <summary>
    /// Cross-entropy of logits [N, C] (or [..., C], flattened) against Int64 class targets [N] (or [...]).
    /// Targets equal to <paramref name="ignoreIndex"/> count for nothing; <paramref name="labelSmoothing"/> mixes the
    /// one-hot target with the uniform distribution (Szegedy et al. 2016), as torch.nn.functional.cross_entropy.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, long ignoreIndex = -100, double labelSmoothing = 0)
    {
        using var scope = OpScope.Enter("CrossEntropy");
        int c = logits.Size(-1);
        var flat = logits.Reshape(-1, c);
        var t = targets.Reshape(-1).To(DType.Int64);
        if (flat.Size(0) != t.Size(0))
            throw new ArgumentException($"CrossEntropy: {flat.Size(0)} rows of logits {Shapes.Format(logits.Shape)} but {t.Size(0)} targets {Shapes.Format(targets.Shape)}");
        var valid = t.Ne(ignoreIndex);
        var safeTargets = Tensor.Where(valid, t, Tensor.Scalar(0, DType.Int64, t.Device));
        var logp = flat.LogSoftmax(-1);
        var nll = -logp.Gather(1, safeTargets.Unsqueeze(1)).Squeeze(1);
        var perRow = labelSmoothing > 0 ? nll * (1 - labelSmoothing) - logp.Mean(-1) * labelSmoothing : nll;
        var weight = valid.To(logits.DType);
        return (perRow * weight).Sum() / weight.Sum().Clamp(min: 1);
    }

    /// <summary>Mean squared error.</summary>
    public static Tensor Mse(Tensor prediction, Tensor target)
    {
        using var scope = OpScope.Enter("Mse");
        return (prediction - target).Square().Mean();
    }

    /// <summary>Binary cross-entropy on logits, computed stably: max(x, 0) - x y + log(1 + exp(-|x|)).</summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor target)
    {
        using var scope = OpScope.Enter("BinaryCrossEntropyWithLogits");
        return (logits.Relu() - logits * target + (-logits.Abs()).Exp().Log1p()).Mean();
    }
}
