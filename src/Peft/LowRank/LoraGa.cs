namespace Engine.Peft.LowRank;

/// <summary>
/// LoRA-GA (Wang et al. 2024, "LoRA-GA: Low-Rank Adaptation with Gradient Approximation", arXiv:2407.05000, section
/// 3.2; PEFT's lora/loraga.py <c>preprocess_loraga</c> and layer.py <c>lora_ga_init</c>): G = the gradient of the loss
/// with respect to the base weight [out, in], averaged over the calibration batches (<see cref="WeightGradients"/>);
/// G = U S Vᵀ; A takes r right singular vectors and B r left ones times their singular values, both among the first
/// 2r (<see cref="LoraGaConfig.Direction"/>), so that the first step of s B A, -η s² (G A₀ᵀA₀ + B₀B₀ᵀG), lies in the
/// span of G's top 2r components (with "ArB2r", G A₀ᵀA₀ is G's best rank-r approximation); B is then scaled
/// (<see cref="LoraGaConfig.Scale"/>). The base keeps W - s B A (<see cref="LoraLayer"/>'s principal part, as
/// PiSSA's), so the model starts unchanged.
/// Deviations from PEFT: the SVD is exact (PEFT's torch.svd_lowrank with 4r columns and 4 power iterations approximates
/// it), with the sign rule of <see cref="WeightSvd.Principal"/> instead of the random signs of a randomised SVD
/// (s B A mixes singular pairs, so it depends on them); "random" draws its indices from the adapter's generator
/// instead of torch's global one.
/// </summary>
public static class LoraGa
{
    /// <summary>One target's share of the calibration: the averaged gradient of its base weight [out, in] (Float64).</summary>
    public sealed record Gradient(Tensor Matrix);

    /// <summary>The averaged gradient of each target's base weight over <paramref name="context"/>'s data, by engine path.</summary>
    public static CalibrationResult Calibrate(LoraConfig config, CalibrationContext context)
    {
        var weights = context.Targets.Select(t => WeightGradients.WeightOf(t.Module)).ToList();
        var gradients = WeightGradients.Average(context.Model, context.Data, weights);
        var perTarget = new Dictionary<string, object>(StringComparer.Ordinal);
        for (int i = 0; i < gradients.Length; i++) perTarget[context.Targets[i].Path.Engine] = new Gradient(gradients[i]);
        return new CalibrationResult(config, perTarget);
    }

    /// <summary>
    /// A [r, in] and B [out, r] (in <paramref name="weight"/>'s dtype) from <paramref name="gradient"/> of
    /// <paramref name="weight"/> [out, in]. <paramref name="stableOut"/> is the d_out of the stable scale: PEFT takes
    /// weight.shape[0], which is the input width of a Conv1D layer (GPT-2's).
    /// </summary>
    /// <exception cref="ArgumentException">2r exceeds min(out, in).</exception>
    public static (Tensor A, Tensor B) Factors(Tensor weight, Gradient gradient, int r, double scaling, LoraGaConfig config, int stableOut, Generator generator)
    {
        var g = gradient.Matrix.To(DType.Float64);
        int k = Math.Min(g.Size(0), g.Size(1));
        if (2 * r > k) throw new ArgumentException($"LoRA-GA: 2 r = {2 * r} exceeds min(out, in) = {k} of weight {Shapes.Format(weight.Shape)}");
        var (u, s, vh) = WeightSvd.Principal(g, 2 * r);
        var (aRows, bColumns) = Indices(config.Direction, r, generator);
        var a = vh.IndexSelect(0, Index(aRows));
        var sB = s.IndexSelect(0, Index(bColumns));
        var b = u.IndexSelect(1, Index(bColumns)) * sB.Unsqueeze(0);
        switch (config.Scale)
        {
            case "stable":
                b = b * (Math.Pow(stableOut, 0.25) / Math.Sqrt(config.StableGamma));
                break;
            case "weight_svd":
            {
                double first = sB.ToDoubleArray()[0];
                if (first > 0) b = b * (WeightSvd.Principal(weight, 1).S.Item() / first);
                break;
            }
            case "gd_scale":
                a = a / scaling;
                b = b / scaling;
                break;
        }
        return (a.Contiguous().To(weight.DType), b.Contiguous().To(weight.DType));
    }

    // Which of the first 2r singular triplets go to A's rows and to B's columns (PEFT's lora_ga_init).
    static (int[] A, int[] B) Indices(string direction, int r, Generator generator)
    {
        var range = Enumerable.Range(0, 2 * r);
        switch (direction)
        {
            case "ArBr": return (range.Where(i => i % 2 == 1).ToArray(), range.Where(i => i % 2 == 0).ToArray());
            case "A2rBr": return (range.Skip(r).ToArray(), range.Take(r).ToArray());
            case "ArB2r": return (range.Take(r).ToArray(), range.Skip(r).ToArray());
            case "random":
            {
                // The first r of a random permutation of 0..2r-1 (PEFT: torch.randperm(2r)[:r]), for both.
                var keys = Tensor.Rand([2 * r], dtype: DType.Float64, generator: generator).ToDoubleArray();
                var chosen = range.OrderBy(i => keys[i]).Take(r).ToArray();
                return (chosen, chosen);
            }
            default: throw new ArgumentException($"lora_ga_config: unknown direction '{direction}'");
        }
    }

    static Tensor Index(int[] indices) => Tensor.FromArray(indices.Select(i => (long)i).ToArray());
}
