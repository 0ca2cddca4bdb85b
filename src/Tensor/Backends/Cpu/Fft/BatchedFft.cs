using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Backends.Cpu;

/// <summary>
/// The complex DFT of length n (a power of two) of <see cref="Lanes"/> signals at once, X[k] = sum_j x[j]
/// exp(-2 pi i j k / n). The signals are interleaved so that each SIMD lane holds one signal ("vertical"
/// vectorisation: every butterfly is plain lane-wise arithmetic, with no shuffles and no scalar tail): in split
/// format, sample j of signal l is re[j * Lanes + l], im[j * Lanes + l].
/// The algorithm is Stockham's self-sorting FFT (Cochran et al. 1967; Van Loan, Computational Frameworks for the FFT,
/// section 1.7): decimation-in-frequency radix-4 stages, one radix-2 stage when log2 n is odd, alternating between
/// the data and a scratch buffer, so no bit-reversal pass is needed. Plans are immutable and cached per length.
/// </summary>
internal sealed class BatchedFft<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    static readonly ConcurrentDictionary<int, BatchedFft<T>> Plans = new();

    /// <summary>The (cached) plan for length <paramref name="n"/>, a power of two.</summary>
    public static BatchedFft<T> ForLength(int n)
    {
        if (n < 1 || !BitOperations.IsPow2(n)) throw new ArgumentOutOfRangeException(nameof(n), $"BatchedFft: length must be a power of two, got {n}");
        return Plans.GetOrAdd(n, static len => new BatchedFft<T>(len));
    }

    /// <summary>How many signals one call transforms: the SIMD width for <typeparamref name="T"/>.</summary>
    public static int Lanes => Vector<T>.Count;

    /// <summary>Transform length.</summary>
    public int Length { get; }

    // One array per radix-4 stage of span `len`: for p < len/4, the twiddles w^p, w^2p, w^3p (w = exp(-2 pi i / len))
    // as six scalars (re, im of each) at 6p.
    readonly T[][] _twiddles;

    BatchedFft(int n)
    {
        Length = n;
        var stages = new List<T[]>();
        for (int len = n; len >= 4; len /= 4)
        {
            int m = len / 4;
            var w = new T[6 * m];
            for (int p = 0; p < m; p++)
                for (int power = 1; power <= 3; power++)
                {
                    // Each twiddle from its own angle keeps its error at one rounding.
                    var (s, c) = Math.SinCos(-2 * Math.PI * power * p / len);
                    w[6 * p + 2 * (power - 1)] = T.CreateTruncating(c);
                    w[6 * p + 2 * (power - 1) + 1] = T.CreateTruncating(s);
                }
            stages.Add(w);
        }
        _twiddles = [.. stages];
    }

    /// <summary>
    /// In-place forward DFT of the <see cref="Lanes"/> interleaved signals in (re, im), each of
    /// <see cref="Length"/> * <see cref="Lanes"/> elements; the scratch arrays are the same size. When
    /// <paramref name="upperHalfZero"/> is set the caller promises that samples n/2.. are zero (a zero-padded signal),
    /// and the first stage skips reading them.
    /// </summary>
    public void Forward(Span<T> re, Span<T> im, Span<T> scratchRe, Span<T> scratchIm, bool upperHalfZero = false)
    {
        int n = Length, lanes = Lanes;
        if (re.Length < n * lanes || im.Length < n * lanes || scratchRe.Length < n * lanes || scratchIm.Length < n * lanes)
            throw new ArgumentException($"BatchedFft: buffers need {n * lanes} elements for length {n} and {lanes} lanes");
        Span<Vector<T>> xr = AsVectors(re), xi = AsVectors(im), yr = AsVectors(scratchRe), yi = AsVectors(scratchIm);
        bool inScratch = false;
        int len = n, stride = 1, stage = 0;
        for (; len >= 4; len /= 4, stride *= 4, stage++)
        {
            Radix4Stage(xr, xi, yr, yi, len, stride, _twiddles[stage], upperHalfZero && stage == 0);
            Span<Vector<T>> swapRe = xr, swapIm = xi;
            xr = yr;
            xi = yi;
            yr = swapRe;
            yi = swapIm;
            inScratch = !inScratch;
        }
        if (len == 2)
        {
            Radix2Stage(xr, xi, yr, yi, stride, upperHalfZero && stage == 0);
            inScratch = !inScratch;
        }
        if (inScratch)
        {
            scratchRe[..(n * lanes)].CopyTo(re);
            scratchIm[..(n * lanes)].CopyTo(im);
        }
    }

    /// <summary>
    /// In-place unnormalised inverse DFT (exp(+2 pi i j k / n); divide by n for the true inverse):
    /// IDFT(x) = swap(DFT(swap(x))), where swap exchanges the real and imaginary parts, which split format does for free.
    /// </summary>
    public void Inverse(Span<T> re, Span<T> im, Span<T> scratchRe, Span<T> scratchIm) => Forward(im, re, scratchIm, scratchRe);

    static Span<Vector<T>> AsVectors(Span<T> data) => MemoryMarshal.Cast<T, Vector<T>>(data);

    // One decimation-in-frequency radix-4 stage over sub-transforms of length `len` (there are `stride` of them,
    // interleaved): with m = len/4 and a, b, c, d the samples p, p+m, p+2m, p+3m, the outputs 4p + t are
    // (a + c) + (b + d), w^p ((a - c) - i (b - d)), w^2p ((a + c) - (b + d)) and w^3p ((a - c) + i (b - d)).
    static void Radix4Stage(Span<Vector<T>> xr, Span<Vector<T>> xi, Span<Vector<T>> yr, Span<Vector<T>> yi,
        int len, int stride, T[] twiddles, bool upperHalfZero)
    {
        int m = len / 4, quarter = m * stride;
        ref var xr0 = ref MemoryMarshal.GetReference(xr);
        ref var xi0 = ref MemoryMarshal.GetReference(xi);
        ref var yr0 = ref MemoryMarshal.GetReference(yr);
        ref var yi0 = ref MemoryMarshal.GetReference(yi);
        for (int p = 0; p < m; p++)
        {
            var w1r = new Vector<T>(twiddles[6 * p]);
            var w1i = new Vector<T>(twiddles[6 * p + 1]);
            var w2r = new Vector<T>(twiddles[6 * p + 2]);
            var w2i = new Vector<T>(twiddles[6 * p + 3]);
            var w3r = new Vector<T>(twiddles[6 * p + 4]);
            var w3i = new Vector<T>(twiddles[6 * p + 5]);
            int a = p * stride, o = 4 * p * stride;
            for (int q = 0; q < stride; q++, a++, o++)
            {
                var ar = Unsafe.Add(ref xr0, a);
                var ai = Unsafe.Add(ref xi0, a);
                var br = Unsafe.Add(ref xr0, a + quarter);
                var bi = Unsafe.Add(ref xi0, a + quarter);
                Vector<T> cr = default, ci = default, dr = default, di = default;
                if (!upperHalfZero)
                {
                    cr = Unsafe.Add(ref xr0, a + 2 * quarter);
                    ci = Unsafe.Add(ref xi0, a + 2 * quarter);
                    dr = Unsafe.Add(ref xr0, a + 3 * quarter);
                    di = Unsafe.Add(ref xi0, a + 3 * quarter);
                }
                Vector<T> sumAcR = ar + cr, sumAcI = ai + ci, difAcR = ar - cr, difAcI = ai - ci;
                Vector<T> sumBdR = br + dr, sumBdI = bi + di, difBdR = br - dr, difBdI = bi - di;
                Unsafe.Add(ref yr0, o) = sumAcR + sumBdR;
                Unsafe.Add(ref yi0, o) = sumAcI + sumBdI;
                // (a - c) - i (b - d), times w^p.
                Vector<T> t1r = difAcR + difBdI, t1i = difAcI - difBdR;
                Unsafe.Add(ref yr0, o + stride) = t1r * w1r - t1i * w1i;
                Unsafe.Add(ref yi0, o + stride) = t1r * w1i + t1i * w1r;
                Vector<T> t2r = sumAcR - sumBdR, t2i = sumAcI - sumBdI;
                Unsafe.Add(ref yr0, o + 2 * stride) = t2r * w2r - t2i * w2i;
                Unsafe.Add(ref yi0, o + 2 * stride) = t2r * w2i + t2i * w2r;
                // (a - c) + i (b - d), times w^3p.
                Vector<T> t3r = difAcR - difBdI, t3i = difAcI + difBdR;
                Unsafe.Add(ref yr0, o + 3 * stride) = t3r * w3r - t3i * w3i;
                Unsafe.Add(ref yi0, o + 3 * stride) = t3r * w3i + t3i * w3r;
            }
        }
    }

    // The last stage when log2 n is odd: sub-transforms of length 2 (no twiddles), outputs a + b and a - b.
    static void Radix2Stage(Span<Vector<T>> xr, Span<Vector<T>> xi, Span<Vector<T>> yr, Span<Vector<T>> yi, int stride, bool upperHalfZero)
    {
        for (int q = 0; q < stride; q++)
        {
            var (ar, ai) = (xr[q], xi[q]);
            var (br, bi) = upperHalfZero ? (Vector<T>.Zero, Vector<T>.Zero) : (xr[q + stride], xi[q + stride]);
            (yr[q], yi[q]) = (ar + br, ai + bi);
            (yr[q + stride], yi[q + stride]) = (ar - br, ai - bi);
        }
    }
}
