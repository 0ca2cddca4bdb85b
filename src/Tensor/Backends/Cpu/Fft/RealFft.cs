using System.Collections.Concurrent;

namespace Engine.Backends.Cpu;

/// <summary>
/// The DFT of a real signal of even length n through one complex DFT of length n/2 (the standard packing, e.g.
/// Press et al., Numerical Recipes, section 12.3): z[j] = x[2j] + i x[2j+1] holds the even and odd samples, whose
/// spectra E and O are separated from Z = DFT(z) by Hermitian symmetry, and X[k] = E[k] + exp(-2 pi i k / n) O[k].
/// Half the work of transforming the signal as a complex one. Cached per length, immutable, thread-safe.
/// </summary>
internal sealed class RealFft
{
    static readonly ConcurrentDictionary<int, RealFft> Plans = new();

    public static RealFft ForLength(int n)
    {
        if (n < 2 || n % 2 != 0) throw new ArgumentOutOfRangeException(nameof(n), $"RealFft: length must be even and at least 2, got {n}");
        return Plans.GetOrAdd(n, static len => new RealFft(len));
    }

    readonly int _half;
    readonly ComplexFft _complex;
    readonly double[] _wr, _wi; // exp(-2 pi i k / n), k = 0..n/2

    RealFft(int n)
    {
        _half = n / 2;
        _complex = ComplexFft.ForLength(_half);
        _wr = new double[_half + 1];
        _wi = new double[_half + 1];
        for (int k = 0; k <= _half; k++)
        {
            var (s, c) = Math.SinCos(-2 * Math.PI * k / n);
            _wr[k] = c;
            _wi[k] = s;
        }
    }

    /// <summary>Doubles of each scratch array the caller provides: the half-length transform's data plus its own scratch.</summary>
    public int ScratchLength => _half + _complex.ScratchLength;

    /// <summary>Bins 0..n/2 of the DFT of the real signal x (length n) into (re, im), each n/2+1 long.</summary>
    public void Forward(ReadOnlySpan<double> x, Span<double> re, Span<double> im, Span<double> scratchRe, Span<double> scratchIm)
    {
        int h = _half;
        var zr = scratchRe[..h];
        var zi = scratchIm[..h];
        for (int j = 0; j < h; j++)
        {
            zr[j] = x[2 * j];
            zi[j] = x[2 * j + 1];
        }
        _complex.Forward(zr, zi, scratchRe[h..], scratchIm[h..]);
        // DC and Nyquist bins are real for a real signal: E[0] +- O[0], written exactly.
        (re[0], im[0], re[h], im[h]) = (zr[0] + zi[0], 0, zr[0] - zi[0], 0);
        for (int k = 1; k < h; k++)
        {
            // E = (Z[k] + conj Z[h-k]) / 2, O = (Z[k] - conj Z[h-k]) / (2i), indices mod h.
            int a = k, b = h - k;
            double er = 0.5 * (zr[a] + zr[b]), ei = 0.5 * (zi[a] - zi[b]);
            double or = 0.5 * (zi[a] + zi[b]), oi = -0.5 * (zr[a] - zr[b]);
            re[k] = er + _wr[k] * or - _wi[k] * oi;
            im[k] = ei + _wr[k] * oi + _wi[k] * or;
        }
    }

    /// <summary>
    /// The real signal x (length n) whose bins 0..n/2 are (re, im), times n (unnormalised, as
    /// <see cref="ComplexFft.Inverse"/>). The imaginary parts of bins 0 and n/2 are ignored, as a real spectrum implies.
    /// </summary>
    public void Inverse(ReadOnlySpan<double> re, ReadOnlySpan<double> im, Span<double> x, Span<double> scratchRe, Span<double> scratchIm)
    {
        int h = _half;
        var zr = scratchRe[..h];
        var zi = scratchIm[..h];
        for (int k = 0; k < h; k++)
        {
            // E = (X[k] + conj X[h-k]) / 2, O = (X[k] - conj X[h-k]) exp(+2 pi i k / n) / 2, Z = E + i O.
            double xr = re[k], xi = k == 0 ? 0 : im[k];
            double yr = re[h - k], yi = k == 0 ? 0 : -im[h - k];
            double er = 0.5 * (xr + yr), ei = 0.5 * (xi + yi);
            double dr = 0.5 * (xr - yr), di = 0.5 * (xi - yi);
            double or = dr * _wr[k] + di * _wi[k], oi = di * _wr[k] - dr * _wi[k];
            zr[k] = er - oi;
            zi[k] = ei + or;
        }
        _complex.Inverse(zr, zi, scratchRe[h..], scratchIm[h..]);
        // The half-length inverse scales by n/2; doubling matches the full-length unnormalised inverse.
        for (int j = 0; j < h; j++)
        {
            x[2 * j] = 2 * zr[j];
            x[2 * j + 1] = 2 * zi[j];
        }
    }
}
