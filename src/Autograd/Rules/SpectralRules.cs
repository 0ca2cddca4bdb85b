using Engine.Recording;

namespace Engine.Autograd;

/// <summary>
/// Derivatives of the real FFT pair. With bins k = 0..n/2 and c_k = 1 for the DC bin (and the Nyquist bin when n is
/// even) and 2 otherwise:
/// rfft's adjoint sends g to n * irfft(g with every bin divided by c_k), because irfft doubles interior bins and
/// divides by n; irfft's adjoint sends g to rfft(g) * c_k / n, with no gradient on the ignored imaginary parts of
/// the DC and Nyquist bins.
/// </summary>
static class SpectralRules
{
    public static void Register(Dictionary<OpKind, DerivativeRule> rules)
    {
        rules[OpKind.Rfft] = (r, y, g) =>
        {
            int n = r.Attributes.Start;
            var inverse = BinWeights(n, imaginaryAtEdges: true).Reciprocal().To(g.DType).To(g.Device);
            return [(g * inverse).Irfft(n) * n];
        };
        rules[OpKind.Irfft] = (r, y, g) =>
        {
            int n = r.Attributes.Start;
            var weights = BinWeights(n, imaginaryAtEdges: false).Div(n).To(g.DType).To(g.Device);
            return [g.Rfft(n) * weights];
        };
        // The Walsh–Hadamard matrix is symmetric: the transform is its own adjoint.
        rules[OpKind.Fwht] = (r, y, g) => [g.Fwht()];
    }

    // [n/2+1, 2] weights c_k per bin for (real, imaginary); the DC and Nyquist imaginary entries are c_k or 0.
    static Tensor BinWeights(int n, bool imaginaryAtEdges)
    {
        int bins = n / 2 + 1;
        var w = new double[bins * 2];
        for (int k = 0; k < bins; k++)
        {
            bool edge = k == 0 || (n % 2 == 0 && k == n / 2);
            w[2 * k] = edge ? 1 : 2;
            w[2 * k + 1] = edge ? (imaginaryAtEdges ? 1 : 0) : 2;
        }
        return Tensor.FromArray(w, [bins, 2]);
    }
}
