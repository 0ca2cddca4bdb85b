namespace Engine.Peft.SparseTuning;

/// <summary>
/// torch.quantile's default ("linear") interpolation of one quantile of a flat set of values, computed as torch computes
/// it in the tensor's dtype: rank = q (n − 1) (q cast to the dtype first), below = trunc(rank), above = ceil(rank),
/// result = lerp(v[below], v[above], rank − below) on the sorted values, with ATen's two-sided lerp. SNELL's threshold
/// (ssfgunner/SNELL <c>model/vision_transformer_timm.py::SNELL.sparsify</c>) is such a quantile of |ΔW|.
/// </summary>
public static class TorchQuantile
{
    /// <summary>The <paramref name="q"/>-quantile of <paramref name="values"/> in Float32 arithmetic (a Float32 tensor's).</summary>
    /// <exception cref="ArgumentException">No values, or q outside [0, 1].</exception>
    public static float Linear(float[] values, double q)
    {
        Check(values.Length, q);
        var sorted = (float[])values.Clone();
        Array.Sort(sorted);
        float rank = (float)q * (sorted.Length - 1);
        int below = (int)rank;
        int above = (int)MathF.Ceiling(rank);
        float weight = rank - below;
        float a = sorted[below], b = sorted[above];
        return weight < 0.5f ? a + weight * (b - a) : b - (b - a) * (1 - weight);
    }

    /// <summary>The <paramref name="q"/>-quantile of <paramref name="values"/> in Float64 arithmetic.</summary>
    /// <exception cref="ArgumentException">No values, or q outside [0, 1].</exception>
    public static double Linear(double[] values, double q)
    {
        Check(values.Length, q);
        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        double rank = q * (sorted.Length - 1);
        int below = (int)rank;
        int above = (int)Math.Ceiling(rank);
        double weight = rank - below;
        double a = sorted[below], b = sorted[above];
        return weight < 0.5 ? a + weight * (b - a) : b - (b - a) * (1 - weight);
    }

    /// <summary>The <paramref name="q"/>-quantile of all of <paramref name="t"/>'s values, in its dtype's arithmetic (Float64 for non-Float32 tensors).</summary>
    public static double Linear(Tensor t, double q)
    {
        var flat = t.Detach().To(Device.Cpu);
        return flat.DType == DType.Float32 ? Linear(flat.ToArray<float>(), q) : Linear(flat.ToDoubleArray(), q);
    }

    static void Check(int n, double q)
    {
        if (n == 0) throw new ArgumentException("TorchQuantile: no values");
        if (!(q >= 0 && q <= 1)) throw new ArgumentException($"TorchQuantile: q must be in [0, 1], got {q}");
    }
}
