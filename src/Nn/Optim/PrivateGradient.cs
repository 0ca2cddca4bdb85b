namespace Engine.Nn;

/// <summary>What one <see cref="PrivateGradient.Compute"/> saw: the mean loss of the examples and how many gradients it clipped.</summary>
/// <param name="MeanLoss">(1/B) Σ_i L_i (before any clipping or noise; for monitoring only, it is not private).</param>
/// <param name="ClippedFraction">The fraction of the B per-example gradients whose norm exceeded the clipping norm.</param>
public sealed record PrivateGradientStep(double MeanLoss, double ClippedFraction);

/// <summary>
/// DP-SGD's gradient (Abadi et al. 2016, "Deep Learning with Differential Privacy", algorithm 1; the optional privacy of
/// FedPEFT's clients, spec seeds-remaining.md §11): each example's gradient over all the given parameters together is
/// clipped to norm C, <c>ḡ_i = g_i / max(1, ‖g_i‖₂ / C)</c>, the clipped gradients are summed, Gaussian noise
/// N(0, σ²C²) is added to every coordinate, and the result divided by the batch size B is written into each
/// parameter's <c>Grad</c>, ready for any optimiser's step. Per-example gradients come from one backward pass per
/// example (the engine has no vectorised per-sample gradients), so it suits small models and adapters.
/// The privacy accounting (ε, δ from σ, the sampling rate and the steps) is not computed here.
/// <code>
/// var step = PrivateGradient.Compute(trainable, batch, i => loss(i), clipNorm: 1, noiseMultiplier: 0.5, generator);
/// optimizer.Step();
/// </code>
/// </summary>
public static class PrivateGradient
{
    /// <summary>
    /// Sets the private gradient of <paramref name="parameters"/> from the <paramref name="examples"/> losses
    /// <paramref name="lossOf"/>(0..B−1), each a scalar.
    /// </summary>
    /// <exception cref="ArgumentException">No parameters, fewer than one example, or a loss that is not a scalar.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A clipping norm that is not positive and finite, or a noise multiplier that is negative or not finite.</exception>
    public static PrivateGradientStep Compute(IReadOnlyList<Tensor> parameters, int examples, Func<int, Tensor> lossOf,
        double clipNorm, double noiseMultiplier, Generator generator)
    {
        if (parameters.Count == 0) throw new ArgumentException("PrivateGradient: no parameters");
        if (examples < 1) throw new ArgumentException($"PrivateGradient: needs at least one example, got {examples}");
        if (!(clipNorm > 0) || !double.IsFinite(clipNorm))
            throw new ArgumentOutOfRangeException(nameof(clipNorm), clipNorm, "PrivateGradient: the clipping norm must be positive and finite");
        if (!(noiseMultiplier >= 0) || !double.IsFinite(noiseMultiplier))
            throw new ArgumentOutOfRangeException(nameof(noiseMultiplier), noiseMultiplier, "PrivateGradient: the noise multiplier must be non-negative and finite");

        var inputs = parameters.ToArray();
        var sums = inputs.Select(p => Tensor.Zeros(p.Shape, DType.Float64, p.Device)).ToArray();
        double lossSum = 0;
        int clipped = 0;
        for (int i = 0; i < examples; i++)
        {
            var loss = lossOf(i);
            if (loss.Numel != 1) throw new ArgumentException($"PrivateGradient: the loss of example {i} must be a scalar, got {Shapes.Format(loss.Shape)}");
            lossSum += loss.Item();
            var grads = Autograd.Autograd.Grad(loss, inputs);
            double squared = 0;
            foreach (var g in grads) squared += g.To(DType.Float64).Square().Sum().Item();
            double norm = Math.Sqrt(squared);
            double factor = norm > clipNorm ? clipNorm / norm : 1;
            if (norm > clipNorm) clipped++;
            for (int j = 0; j < inputs.Length; j++) sums[j] = sums[j] + grads[j].To(DType.Float64) * factor;
        }
        for (int j = 0; j < inputs.Length; j++)
        {
            var total = noiseMultiplier > 0
                ? sums[j] + Tensor.Randn(inputs[j].Shape, dtype: DType.Float64, generator: generator).To(inputs[j].Device) * (noiseMultiplier * clipNorm)
                : sums[j];
            inputs[j].Grad = (total / examples).To(inputs[j].DType);
        }
        return new PrivateGradientStep(lossSum / examples, clipped / (double)examples);
    }
}
