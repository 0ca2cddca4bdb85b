namespace Engine.Peft.LowRank;

/// <summary>
/// CorDA (Yang et al. 2024, "CorDA: Context-Oriented Decomposition Adaptation", arXiv:2406.05223, section 3; PEFT's
/// lora/corda.py <c>preprocess_corda</c> and layer.py <c>corda_init</c>): the weight is decomposed as oriented by the
/// covariance of its inputs. C = the mean over calibration batches of Xᵀ X, each batch's inputs X [tokens, in] divided
/// by |max X|; C is damped to C + λ I with λ = mean(diag C) times 0.01, doubled until ||(C + λI)(C + λI)⁻¹ - I||_F
/// &lt; 0.05 (PEFT's inverse check); W (C + λI) = U S Vᵀ, so W = U S (V̂)ᵀ with V̂ = (Vᵀ (C + λI)⁻¹)ᵀ. The adapter takes r
/// of these components (IPM, instruction-previewed: the r largest; KPM, knowledge-preserved: the r smallest) as
/// A = sqrt(S_r / s) V̂_rᵀ and B = U_r sqrt(S_r / s), and the base keeps W - s B A (<see cref="LoraLayer"/>'s principal
/// part, as PiSSA's). PEFT hooks one sequence per call (its hook squeezes a batch of one); the engine flattens every
/// leading dimension of a batch into tokens, which is the same for batches of one sequence.
/// </summary>
public static class Corda
{
    /// <summary>One target's share of the calibration: its damping-free input covariance C [in, in] (Float64).</summary>
    public sealed record Covariance(Tensor Matrix);

    /// <summary>The covariance of each target's inputs over <paramref name="context"/>'s data, by engine path.</summary>
    /// <exception cref="NotSupportedException">corda_config names PEFT's cache or covariance file.</exception>
    /// <exception cref="InvalidOperationException">A target's inputs are all zero or not finite (PEFT: "Invalid value found in input").</exception>
    public static CalibrationResult Calibrate(LoraConfig config, CalibrationContext context)
    {
        (config.CordaConfig ?? new CordaConfig()).RequireNoFiles();
        var sums = new Tensor?[context.Targets.Count];
        var counts = new int[context.Targets.Count];
        LayerInputRecorder.Record(context, (target, input) =>
        {
            var x = input.To(Device.Cpu).To(DType.Float64);
            x = x.Reshape(-1, x.Size(-1));
            // PEFT divides by the absolute value of the largest entry (not the largest magnitude).
            double max = Math.Abs(x.Max().Item());
            if (!(max > 0 && double.IsFinite(max)))
                throw new InvalidOperationException($"CorDA: the inputs of '{context.Targets[target].Path.External}' have largest entry {max}; the covariance needs finite inputs whose largest entry is not zero");
            x = x / max;
            var covariance = x.T % x;
            sums[target] = sums[target] is { } s ? s + covariance : covariance;
            counts[target]++;
        });
        var perTarget = new Dictionary<string, object>(StringComparer.Ordinal);
        for (int i = 0; i < sums.Length; i++)
        {
            var (path, _) = context.Targets[i];
            var sum = sums[i] ?? throw new InvalidOperationException($"CorDA: the calibration data never reached '{path.External}'");
            perTarget[path.Engine] = new Covariance(sum / counts[i]);
        }
        return new CalibrationResult(config, perTarget);
    }

    /// <summary>
    /// A [r, in] and B [out, r] (in <paramref name="weight"/>'s dtype) with s B A the r largest ("ipm") or smallest
    /// ("kpm") components of the covariance-oriented decomposition of <paramref name="weight"/> [out, in].
    /// </summary>
    /// <exception cref="ArgumentException">r exceeds min(out, in).</exception>
    public static (Tensor A, Tensor B) Factors(Tensor weight, Covariance covariance, int r, double scaling, string method)
    {
        var w = weight.Detach().To(Device.Cpu).To(DType.Float64);
        int outF = w.Size(0), inF = w.Size(1), k = Math.Min(outF, inF);
        if (r > k) throw new ArgumentException($"CorDA: rank {r} exceeds min(out, in) = {k} of weight {Shapes.Format(weight.Shape)}");
        var (damped, inverse) = DampedInverse(covariance.Matrix.To(DType.Float64));
        var (u, s, vh) = Linalg.Svd(w % damped);
        // W = U S (Vᵀ (C + λI)⁻¹): the right factor undoes the covariance.
        var v = vh % inverse;
        int start = method == "kpm" ? k - r : 0;
        var ur = u.Narrow(1, start, r);
        var root = (s.Narrow(0, start, r) / scaling).Sqrt();
        var a = root.Unsqueeze(1) * v.Narrow(0, start, r);
        var b = ur * root.Unsqueeze(0);
        return (a.Contiguous().To(weight.DType), b.Contiguous().To(weight.DType));
    }

    /// <summary>PEFT's damping: C + λ I with λ = mean(diag C) · 0.01 · 2^k for the least k whose inverse passes ||M M⁻¹ - I||_F &lt; 0.05.</summary>
    internal static (Tensor Damped, Tensor Inverse) DampedInverse(Tensor covariance)
    {
        int n = covariance.Size(0);
        var eye = Tensor.Eye(n, dtype: DType.Float64);
        double meanDiagonal = (covariance * eye).Sum().Item() / n;
        if (!(meanDiagonal > 0 && double.IsFinite(meanDiagonal)))
            throw new InvalidOperationException($"CorDA: the covariance's mean diagonal is {meanDiagonal}; it must be positive and finite");
        double damp = 0.01;
        for (int attempt = 0; attempt < 64; attempt++, damp *= 2)
        {
            var damped = covariance + eye * (meanDiagonal * damp);
            Tensor inverse;
            try { inverse = Linalg.Inverse(damped); }
            catch (ArgumentException) { continue; }
            var residual = damped % inverse - eye;
            if (Math.Sqrt((residual * residual).Sum().Item()) < 0.05) return (damped, inverse);
        }
        throw new InvalidOperationException("CorDA: the damped covariance could not be inverted");
    }
}
