using System.Collections.Concurrent;
using System.Numerics;

namespace Engine.Backends.Cpu;

/// <summary>
/// A plan for the complex discrete Fourier transform of one length n, in double precision:
/// X[k] = sum_j x[j] exp(-2 pi i j k / n). Powers of two use an iterative radix-2 Cooley-Tukey FFT
/// (Cooley and Tukey 1965); other lengths use Bluestein's chirp-z algorithm (Bluestein 1970), which turns the
/// transform into a circular convolution evaluated with a power-of-two FFT. Plans are immutable and cached per
/// length, so one plan serves every row and every thread; scratch memory is the caller's.
/// </summary>
internal sealed class ComplexFft
{
    static readonly ConcurrentDictionary<int, ComplexFft> Plans = new();

    /// <summary>The (cached) plan for length <paramref name="n"/> (n >= 1).</summary>
    public static ComplexFft ForLength(int n)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), $"ComplexFft: length must be at least 1, got {n}");
        return Plans.GetOrAdd(n, static len => new ComplexFft(len));
    }

    /// <summary>Transform length.</summary>
    public int Length { get; }

    /// <summary>How many doubles of scratch <see cref="Forward"/> and <see cref="Inverse"/> need (per real/imaginary array).</summary>
    public int ScratchLength => _inner?.Length ?? 0;

    // Radix-2 plan: the bit-reversal permutation and, for each stage of span `half`, its twiddles
    // exp(-2 pi i j / (2 half)) for j < half stored contiguously from index half - 1, so the butterfly loop reads
    // them with vector loads.
    readonly int[]? _bitReverse;
    readonly double[]? _twiddleRe, _twiddleIm;

    // Bluestein plan: the chirp w[k] = exp(-i pi k^2 / n), and the FFT (length M >= 2n-1) of the
    // wrapped conjugate chirp, the fixed convolution kernel.
    readonly ComplexFft? _inner;
    readonly double[]? _chirpRe, _chirpIm, _kernelRe, _kernelIm;

    ComplexFft(int n)
    {
        Length = n;
        if (BitOperations.IsPow2(n))
        {
            int bits = BitOperations.Log2((uint)n);
            _bitReverse = new int[n];
            for (int i = 0; i < n; i++)
                _bitReverse[i] = bits == 0 ? 0 : (int)(ReverseBits((uint)i) >> (32 - bits));
            _twiddleRe = new double[Math.Max(n - 1, 1)];
            _twiddleIm = new double[Math.Max(n - 1, 1)];
            for (int half = 1; half < n; half <<= 1)
                for (int j = 0; j < half; j++)
                {
                    // Each twiddle from its own angle (not by repeated multiplication) keeps errors at one rounding.
                    var (s, c) = Math.SinCos(-Math.PI * j / half);
                    _twiddleRe[half - 1 + j] = c;
                    _twiddleIm[half - 1 + j] = s;
                }
            return;
        }

        // Bluestein 1970: jk = (j^2 + k^2 - (k-j)^2) / 2, so X[k] = w[k] sum_j (x[j] w[j]) conj(w[k-j]).
        int m = (int)BitOperations.RoundUpToPowerOf2((uint)(2 * n - 1));
        _inner = ForLength(m);
        _chirpRe = new double[n];
        _chirpIm = new double[n];
        for (int k = 0; k < n; k++)
        {
            // k^2 mod 2n keeps the angle small, so large k lose no precision (exp(-i pi k^2/n) has period 2n in k^2).
            long k2 = (long)k * k % (2L * n);
            var (s, c) = Math.SinCos(-Math.PI * k2 / n);
            _chirpRe[k] = c;
            _chirpIm[k] = s;
        }
        _kernelRe = new double[m];
        _kernelIm = new double[m];
        _kernelRe[0] = _chirpRe[0];
        _kernelIm[0] = -_chirpIm[0];
        for (int k = 1; k < n; k++)
        {
            // conj(w) at lags k and -k (wrapped to m - k): the circular convolution then equals the linear one.
            _kernelRe[k] = _kernelRe[m - k] = _chirpRe[k];
            _kernelIm[k] = _kernelIm[m - k] = -_chirpIm[k];
        }
        _inner.Forward(_kernelRe, _kernelIm, [], []);
    }

    static uint ReverseBits(uint v)
    {
        v = ((v >> 1) & 0x55555555u) | ((v & 0x55555555u) << 1);
        v = ((v >> 2) & 0x33333333u) | ((v & 0x33333333u) << 2);
        v = ((v >> 4) & 0x0F0F0F0Fu) | ((v & 0x0F0F0F0Fu) << 4);
        v = ((v >> 8) & 0x00FF00FFu) | ((v & 0x00FF00FFu) << 8);
        return (v >> 16) | (v << 16);
    }

    /// <summary>
    /// In-place forward DFT of (re, im), each of <see cref="Length"/> elements. For lengths that are not powers of
    /// two, <paramref name="scratchRe"/> and <paramref name="scratchIm"/> must hold <see cref="ScratchLength"/> doubles.
    /// </summary>
    public void Forward(Span<double> re, Span<double> im, Span<double> scratchRe, Span<double> scratchIm)
    {
        if (_inner is null) Radix2(re, im);
        else Bluestein(re, im, scratchRe, scratchIm);
    }

    /// <summary>In-place unnormalised inverse DFT (exp(+2 pi i j k / n)); divide by n for the true inverse.</summary>
    public void Inverse(Span<double> re, Span<double> im, Span<double> scratchRe, Span<double> scratchIm)
    {
        // IDFT(x) = conj(DFT(conj(x))): reuse the forward plan.
        Negate(im);
        Forward(re, im, scratchRe, scratchIm);
        Negate(im);
    }

    static void Negate(Span<double> v)
    {
        for (int i = 0; i < v.Length; i++) v[i] = -v[i];
    }

    void Radix2(Span<double> re, Span<double> im)
    {
        int n = Length;
        var rev = _bitReverse!;
        for (int i = 0; i < n; i++)
        {
            int j = rev[i];
            if (j > i)
            {
                (re[i], re[j]) = (re[j], re[i]);
                (im[i], im[j]) = (im[j], im[i]);
            }
        }
        var wr = _twiddleRe!;
        var wi = _twiddleIm!;
        int width = Vector<double>.Count;
        // Butterflies of span `half` combine two transforms of length `half` into one of length 2*half.
        for (int half = 1; half < n; half <<= 1)
        {
            var tr = wr.AsSpan(half - 1, half);
            var ti = wi.AsSpan(half - 1, half);
            for (int start = 0; start < n; start += 2 * half)
            {
                int j = 0;
                if (Vector.IsHardwareAccelerated)
                    for (; j <= half - width; j += width)
                    {
                        int a = start + j, b = a + half;
                        var (cr, ci) = (new Vector<double>(tr[j..]), new Vector<double>(ti[j..]));
                        var (br, bi) = (new Vector<double>(re[b..]), new Vector<double>(im[b..]));
                        var (ar, ai) = (new Vector<double>(re[a..]), new Vector<double>(im[a..]));
                        var (pr, pi) = (br * cr - bi * ci, br * ci + bi * cr);
                        (ar - pr).CopyTo(re[b..]);
                        (ai - pi).CopyTo(im[b..]);
                        (ar + pr).CopyTo(re[a..]);
                        (ai + pi).CopyTo(im[a..]);
                    }
                for (; j < half; j++)
                {
                    double cr = tr[j], ci = ti[j];
                    int a = start + j, b = a + half;
                    double pr = re[b] * cr - im[b] * ci;
                    double pi = re[b] * ci + im[b] * cr;
                    re[b] = re[a] - pr;
                    im[b] = im[a] - pi;
                    re[a] += pr;
                    im[a] += pi;
                }
            }
        }
    }

    void Bluestein(Span<double> re, Span<double> im, Span<double> ar, Span<double> ai)
    {
        int n = Length, m = _inner!.Length;
        var cr = _chirpRe!;
        var ci = _chirpIm!;
        ar = ar[..m];
        ai = ai[..m];
        // a[j] = x[j] w[j], zero-padded to m.
        for (int j = 0; j < n; j++)
        {
            ar[j] = re[j] * cr[j] - im[j] * ci[j];
            ai[j] = re[j] * ci[j] + im[j] * cr[j];
        }
        ar[n..].Clear();
        ai[n..].Clear();
        // Convolution theorem: a * b = IDFT(DFT(a) DFT(b)) / m.
        _inner.Forward(ar, ai, [], []);
        var kr = _kernelRe!;
        var ki = _kernelIm!;
        for (int j = 0; j < m; j++)
        {
            double r = ar[j] * kr[j] - ai[j] * ki[j];
            ai[j] = ar[j] * ki[j] + ai[j] * kr[j];
            ar[j] = r;
        }
        _inner.Inverse(ar, ai, [], []);
        double scale = 1.0 / m;
        for (int k = 0; k < n; k++)
        {
            double r = ar[k] * scale, i = ai[k] * scale;
            re[k] = r * cr[k] - i * ci[k];
            im[k] = r * ci[k] + i * cr[k];
        }
    }
}
