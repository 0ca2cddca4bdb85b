namespace Engine.Peft.LowRank;

/// <summary>
/// LoftQ (Li et al. 2023, arXiv:2310.08659, algorithm 1), as PEFT's <c>loftq_init</c> (src/peft/utils/loftq_utils.py):
/// from W [out, in] in Float32 and R⁽⁰⁾ = W, each of T steps quantises Q = dequant(quant(R)) with
/// <see cref="NormalFloatQuantizer"/> (NormalFloat, blocks of 64), takes the best rank-r approximation of W − Q by SVD,
/// W − Q ≈ U_r S_r V_rᵀ, and (before the next step) R = W − U_r S_r V_rᵀ. The result is A = sqrt(S_r) V_rᵀ [r, in],
/// B = U_r sqrt(S_r) [out, r] and the base weight Q of the last step, so that Q + B A approximates W better than Q
/// alone. As in PEFT, A and B are not divided by the LoRA scale s: the layer starts at Q + s B A, which approximates W
/// when s = 1 (lora_alpha = r, as LoftQ's own runs use). The quantised weight is kept dequantised (fake quantisation):
/// PEFT sets the base layer's weight to the dequantised Q.
/// </summary>
public static class LoftqInit
{
    /// <summary>
    /// A [r, in], B [out, r] and the dequantised base Q [out, in] (Float32, CPU) for <paramref name="weight"/>.
    /// With <paramref name="storedTransposed"/> (fan_in_fan_out: the file's layer stores Wᵀ, as GPT-2's Conv1D) the
    /// quantisation blocks run over Wᵀ's row-major values, as PEFT's quantiser reads the weight it is given.
    /// </summary>
    /// <exception cref="ArgumentException">The rank exceeds min(out, in), or a field is out of range.</exception>
    public static (Tensor A, Tensor B, Tensor Quantized) Compute(Tensor weight, int r, int bits, int iterations, bool storedTransposed = false)
    {
        if (weight.Rank != 2) throw new ArgumentException($"LoftQ: expects a matrix, got {Shapes.Format(weight.Shape)}");
        if (r < 1 || r > Math.Min(weight.Size(0), weight.Size(1)))
            throw new ArgumentException($"LoftQ: rank {r} must be between 1 and min(out, in) = {Math.Min(weight.Size(0), weight.Size(1))} of weight {Shapes.Format(weight.Shape)}");
        if (iterations < 1) throw new ArgumentException($"LoftQ: loftq_iter must be positive, got {iterations}");
        var quantizer = new NormalFloatQuantizer(bits);
        var w = weight.Detach().To(Device.Cpu).To(DType.Float32).Contiguous();
        var w64 = w.To(DType.Float64);
        var residual = w;
        Tensor q = w, a = w, b = w;
        for (int i = 0; i < iterations; i++)
        {
            q = storedTransposed ? quantizer.FakeQuantize(residual.T).T.Contiguous() : quantizer.FakeQuantize(residual);
            var (u, s, vh) = Linalg.SvdTopK(w64 - q.To(DType.Float64), r);
            var root = s.Sqrt();
            b = u * root.Unsqueeze(0);
            a = root.Unsqueeze(1) * vh;
            if (i + 1 < iterations) residual = (w64 - b % a).To(DType.Float32);
        }
        return (a.To(DType.Float32).Contiguous(), b.To(DType.Float32).Contiguous(), q);
    }

    /// <summary>‖W − Q − s B A‖_F, the error LoftQ minimises (the paper's objective (6), with s = 1 there).</summary>
    public static double Error(Tensor weight, Tensor quantized, Tensor a, Tensor b, double scaling = 1) =>
        (weight.Detach().To(Device.Cpu).To(DType.Float64) - quantized.To(Device.Cpu).To(DType.Float64)
            - b.To(Device.Cpu).To(DType.Float64) % a.To(Device.Cpu).To(DType.Float64) * scaling).Square().Sum().Sqrt().Item();
}
