namespace Engine.Peft.Spectral;

/// <summary>
/// The real and imaginary parts of the n-point DFT matrix, C[j, k] = cos(2π jk / n) and S[j, k] = sin(2π jk / n),
/// with jk reduced modulo n before the angle is formed (exact for any n). For a real spectrum F [M, N],
/// Re(IFFT2(F)) = (C_M F C_N − S_M F S_N) / (M N): FourierFT's update as two matrix products.
/// </summary>
public static class RealDft
{
    /// <summary>C or S [n, n] as a Float64 tensor.</summary>
    public static Tensor Matrix(int n, bool sine)
    {
        var m = new double[n * n];
        for (int j = 0; j < n; j++)
            for (int k = 0; k < n; k++)
            {
                double angle = 2 * Math.PI * ((long)j * k % n) / n;
                m[j * n + k] = sine ? Math.Sin(angle) : Math.Cos(angle);
            }
        return Tensor.FromArray(m, [n, n]);
    }
}
