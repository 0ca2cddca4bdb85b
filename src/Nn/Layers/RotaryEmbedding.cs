namespace Engine.Nn;

/// <summary>
/// Rotary position embeddings (Su et al. 2021, RoFormer eq. 34), in the "rotate half" layout: channel i pairs with
/// channel i + D/2, and each pair turns by angle position * base^(-2i/D).
/// </summary>
public static class RotaryEmbedding
{
    /// <summary>Rotates x [B, H, T, D] whose first position is <paramref name="startPosition"/>.</summary>
    public static Tensor Apply(Tensor x, int startPosition, double theta = 10000)
    {
        int t = x.Size(-2), d = x.Size(-1);
        if (d % 2 != 0) throw new ArgumentException($"RotaryEmbedding: head dimension must be even, got {d}");
        int half = d / 2;
        var cos = new double[t * d];
        var sin = new double[t * d];
        for (int p = 0; p < t; p++)
            for (int i = 0; i < half; i++)
            {
                double angle = (startPosition + p) * Math.Pow(theta, -2.0 * i / d);
                cos[p * d + i] = cos[p * d + i + half] = Math.Cos(angle);
                sin[p * d + i] = sin[p * d + i + half] = Math.Sin(angle);
            }
        var c = Tensor.FromArray(cos, [t, d]).To(x.DType).To(x.Device);
        var s = Tensor.FromArray(sin, [t, d]).To(x.DType).To(x.Device);
        var x1 = x.Narrow(-1, 0, half);
        var x2 = x.Narrow(-1, half, half);
        var rotated = Tensor.Concat([-x2, x1], -1);
        return x * c + rotated * s;
    }
}
