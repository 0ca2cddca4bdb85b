namespace Engine.Peft.Routed;

/// <summary>
/// FlyLoRA's frozen A [r, in]: every row has p = floor(in / floor(r / k)) non-zero entries at distinct random
/// positions, with values N(0, (1/r)²) (the fork's <c>init_lora_weights="sparse"</c> in
/// <c>peft/src/peft/tuners/lora/layer.py</c>: randperm(in)[:p] per row, then normal(std = 1/r) masked). Drawn with
/// the engine's generator, not torch's: the values differ from the fork's for the same seed, the law is the same.
/// </summary>
public static class SparseRandomProjection
{
    /// <summary>Non-zero entries per row: floor(in / floor(r / k)).</summary>
    /// <exception cref="ArgumentException">The layer is too narrow to give each row an entry.</exception>
    public static int NonZerosPerRow(int inFeatures, int r, int k, string where)
    {
        int p = inFeatures / (r / k);
        if (p < 1) throw new ArgumentException($"FlyLoRA: '{where}' has {inFeatures} inputs, fewer than floor(r / top_k) = {r / k}: no row of A would have an entry");
        return p;
    }

    /// <summary>A [r, in] with <paramref name="p"/> non-zeros per row, drawn with <paramref name="generator"/> (positions, then values, row by row).</summary>
    public static Tensor Create(int r, int inFeatures, int p, DType dtype, Generator generator)
    {
        var a = new double[r * inFeatures];
        for (int i = 0; i < r; i++)
        {
            var positions = RandomPermutation.Of(inFeatures, generator).Take(p).ToArray();
            var values = Tensor.Randn([p], 0, 1.0 / r, DType.Float64, generator).ToArray<double>();
            for (int j = 0; j < p; j++) a[i * inFeatures + positions[j]] = values[j];
        }
        return Tensor.FromArray(a, [r, inFeatures]).To(dtype);
    }
}
