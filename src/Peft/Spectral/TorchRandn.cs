namespace Engine.Peft.Spectral;

/// <summary>
/// PyTorch's CPU <c>torch.randn(n, generator=torch.Generator().manual_seed(seed))</c> in float32 (ATen's
/// <c>normal_kernel</c>, cpu/DistributionTemplates.h), so the engine starts from the vector torch starts from. For
/// n ≥ 16 torch fills the tensor with 24-bit uniforms u = (random() &amp; 2²⁴−1) 2⁻²⁴ and turns each block of 16 into
/// normals by Box–Muller (<c>normal_fill_16</c>: r = √(−2 ln(1 − u_j)), θ = 2π u_(j+8), entries j and j + 8 get
/// r cos θ and r sin θ); a tail that is not a whole block redraws the last 16 entries. Below 16 it draws one double
/// normal per entry (<c>normal_distribution&lt;double&gt;</c>: 53-bit uniforms u1, u2, r = √(−2 log1p(−u2)), r cos 2πu1,
/// and the r sin 2πu1 it caches serves the next entry). Builds with AVX2 compute the block form with SLEEF's float
/// functions: the values then agree to a few float32 ulps. PEFT's Arrow draws its power iteration's start this way.
/// </summary>
public static class TorchRandn
{
    /// <summary>randn(<paramref name="n"/>) of torch's CPU generator seeded with <paramref name="seed"/>, float32.</summary>
    public static float[] Draw(int n, ulong seed)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), $"TorchRandn: n must not be negative, got {n}");
        var mt = new TorchMt19937(seed);
        var data = new float[n];
        if (n >= 16)
        {
            float Uniform() => (mt.Next() & 0xFFFFFF) * (1f / (1 << 24));
            for (int i = 0; i < n; i++) data[i] = Uniform();
            for (int i = 0; i + 16 <= n; i += 16) Fill16(data.AsSpan(i, 16));
            if (n % 16 != 0)
            {
                var tail = data.AsSpan(n - 16, 16);
                for (int i = 0; i < 16; i++) tail[i] = Uniform();
                Fill16(tail);
            }
            return data;
        }
        double? cached = null;
        for (int i = 0; i < n; i++)
        {
            if (cached is { } c)
            {
                data[i] = (float)c;
                cached = null;
                continue;
            }
            double u1 = (mt.Next64() & ((1UL << 53) - 1)) * (1.0 / (1UL << 53));
            double u2 = (mt.Next64() & ((1UL << 53) - 1)) * (1.0 / (1UL << 53));
            double r = Math.Sqrt(-2.0 * double.LogP1(-u2));
            double theta = 2.0 * Math.PI * u1;
            cached = r * Math.Sin(theta);
            data[i] = (float)(r * Math.Cos(theta));
        }
        return data;
    }

    static void Fill16(Span<float> d)
    {
        for (int j = 0; j < 8; j++)
        {
            float u1 = 1f - d[j];
            float u2 = d[j + 8];
            float radius = MathF.Sqrt(-2f * MathF.Log(u1));
            float theta = (float)(2.0 * Math.PI * u2);
            d[j] = radius * MathF.Cos(theta);
            d[j + 8] = radius * MathF.Sin(theta);
        }
    }
}
