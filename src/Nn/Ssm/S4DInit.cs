namespace Engine.Nn;

/// <summary>Initialisations of the diagonal state matrix A of <see cref="S4D"/> (S4D paper, section 4).</summary>
public enum S4DInit
{
    /// <summary>S4D-Lin: A_n = -1/2 + i pi n, the diagonal approximation of HiPPO-FouT.</summary>
    Lin,

    /// <summary>S4D-Inv: A_n = -1/2 + i (N/pi) (N/(2n+1) - 1), which approximates S4D-LegS.</summary>
    Inv,

    /// <summary>S4D-LegS: the eigenvalues of the normal part of HiPPO-LegS (real part -1/2).</summary>
    LegS,
}

/// <summary>The initial eigenvalues A_n, n = 0..N/2-1, of each initialisation.</summary>
public static class S4DInitExtensions
{
    /// <summary>
    /// The N/2 eigenvalues (one of each conjugate pair, positive imaginary part) for state size <paramref name="stateSize"/> N.
    /// Every initialisation has real part -1/2. <c>var (re, im) = S4DInit.Inv.Eigenvalues(64);</c>
    /// </summary>
    public static (double[] Re, double[] Im) Eigenvalues(this S4DInit init, int stateSize)
    {
        if (stateSize < 2 || stateSize % 2 != 0)
            throw new ArgumentException($"S4DInit: state size N must be even and at least 2 (N/2 conjugate pairs), got {stateSize}");
        int half = stateSize / 2;
        var re = Enumerable.Repeat(-0.5, half).ToArray();
        double n = stateSize;
        var im = init switch
        {
            // S4D paper, section 4.1, equation (7).
            S4DInit.Lin => Enumerable.Range(0, half).Select(k => Math.PI * k).ToArray(),
            // S4D paper, section 4.1, equation (8).
            S4DInit.Inv => Enumerable.Range(0, half).Select(k => n / Math.PI * (n / (2 * k + 1) - 1)).ToArray(),
            S4DInit.LegS => LegSImaginaryParts(stateSize),
            _ => throw new ArgumentOutOfRangeException(nameof(init), init, "S4DInit: unknown initialisation"),
        };
        return (re, im);
    }

    // HiPPO-LegS (HiPPO, section 3; S4 paper, section 3.3): A_nk = -sqrt((2n+1)(2k+1)) for n > k, -(n+1) for n = k.
    // Its normal part A + P P^T with P_n = sqrt(n + 1/2) is -1/2 I + S, S skew-symmetric with
    // S_nk = -sqrt((2n+1)(2k+1))/2 for n > k. The eigenvalues of S are +-i sigma_j; sigma_j^2 are the eigenvalues of the
    // symmetric S^T S, each twice, so a symmetric eigen-solver gives them. Ascending imaginary parts.
    static double[] LegSImaginaryParts(int n)
    {
        var s = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++)
                s[i * n + k] = i == k ? 0 : (i > k ? -0.5 : 0.5) * Math.Sqrt((2.0 * i + 1) * (2.0 * k + 1));
        var skew = Tensor.FromArray(s, [n, n]);
        var gram = skew.T.MatMul(skew);
        gram = (gram + gram.T) * 0.5;
        var squares = Linalg.EighSymmetric(gram).Eigenvalues.ToArray<double>();
        // Ascending squares come in equal pairs: take one of each.
        return Enumerable.Range(0, n / 2).Select(j => Math.Sqrt(Math.Max(0, 0.5 * (squares[2 * j] + squares[2 * j + 1])))).ToArray();
    }
}
