namespace Engine.Nn;

/// <summary>
/// The AdamW width rule of "Robust Layerwise Scaling Rules by Proper Weight Decay Tuning" (Fan et al. 2025;
/// structure-and-optimizers.md §3.2, with its correction: λ grows with √width): steady-state singular values of a
/// matrix scale as <c>√(η/λ)·d^{0.75}</c>, so with μP's <c>η ∝ 1/d</c> the decay must grow as <c>√d</c> to keep them
/// width-invariant. Matrix-like parameters (hidden Linear weights): <c>η = η_base·d_base/d</c>,
/// <c>λ = λ_base·√(d/d_base)</c>; vector-like (norm gains, biases): <c>η</c> unchanged, <c>λ = 0</c>. The paper does
/// not place embeddings and the output head; we keep their base rate and the <see cref="WeightDecayGroups"/> mask's
/// decay. <see cref="TopSingularValue"/> is the diagnostic: it should match across widths at the end of training.
/// </summary>
public static class WidthScaling
{
    /// <summary>A matrix-like group's (η, λ) at <paramref name="width"/> from their values at <paramref name="baseWidth"/>.</summary>
    public static (double Lr, double WeightDecay) MatrixRule(double lr, double weightDecay, int baseWidth, int width)
    {
        if (baseWidth <= 0 || width <= 0) throw new ArgumentException($"WidthScaling.MatrixRule: widths must be positive, got base {baseWidth} and width {width}");
        double ratio = (double)width / baseWidth;
        return (lr / ratio, weightDecay * Math.Sqrt(ratio));
    }

    /// <summary>
    /// AdamW groups for a model of width <paramref name="width"/>: <c>hidden</c> (hidden matrices, by
    /// <see cref="MatrixRule"/>), <c>other_decay</c> and <c>other_no_decay</c> (embeddings and head at the base rate
    /// with the mask's decay), <c>vector</c> (rank below 2: base rate, no decay).
    /// </summary>
    public static ParamGroup[] Groups(Module model, double lr, double weightDecay, int baseWidth, int width)
    {
        var (hiddenLr, hiddenDecay) = MatrixRule(lr, weightDecay, baseWidth, width);
        var (matrix, others) = HiddenMatrixGroups.Build(model, hiddenLr, lr, hiddenDecay, "hidden", "other");
        var vectors = others.SelectMany(g => g.Parameters).Where(p => p.Rank < 2).ToList();
        return [matrix[0],
            new ParamGroup(others[0].Parameters.Where(p => p.Rank >= 2), lr, weightDecay, "other_decay"),
            new ParamGroup(others[1].Parameters.Where(p => p.Rank >= 2), lr, 0, "other_no_decay"),
            new ParamGroup(vectors, lr, 0, "vector")];
    }

    /// <summary>
    /// The largest singular value of the matrix <paramref name="w"/> by power iteration on <c>WᵀW</c> from a fixed
    /// start (in float64 on the CPU; a report, not a training op).
    /// </summary>
    public static double TopSingularValue(Tensor w, int iterations = 20)
    {
        if (w.Rank != 2) throw new ArgumentException($"WidthScaling.TopSingularValue: expects a matrix, got a tensor of shape {Shapes.Format(w.Shape)}");
        if (iterations < 1) throw new ArgumentException($"WidthScaling.TopSingularValue: iterations must be >= 1, got {iterations}");
        var m = w.To(Device.Cpu).To(DType.Float64);
        // A start with every component nonzero and unequal, so no singular direction is missed by symmetry.
        var v = Tensor.FromArray(Enumerable.Range(0, w.Shape[1]).Select(i => 1.0 + 0.5 * Math.Sin(1.7 * i + 0.3)).ToArray(), [w.Shape[1], 1]);
        double sigma = 0;
        for (int i = 0; i < iterations; i++)
        {
            var mv = m.MatMul(v);
            double norm = Math.Sqrt(mv.Square().Sum().Item());
            if (norm == 0) return 0;
            sigma = norm / Math.Sqrt(v.Square().Sum().Item());
            v = m.T.MatMul(mv) / norm;
        }
        return sigma;
    }
}
