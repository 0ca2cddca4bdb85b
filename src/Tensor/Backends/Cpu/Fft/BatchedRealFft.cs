using System.Collections.Concurrent;
using System.Numerics;

namespace Engine.Backends.Cpu;

/// <summary>
/// The DFT of <see cref="BatchedFft{T}.Lanes"/> real signals of length n (a power of two, at least 2) at once, through
/// one <see cref="BatchedFft{T}"/> of length h = n/2, with the packing of <see cref="RealFft"/>: z[j] = x[2j] + i x[2j+1],
/// Z = DFT(z), and X[k] = E[k] + w^k O[k] with E[k] = (Z[k] + conj Z[h-k]) / 2, O[k] = (Z[k] - conj Z[h-k]) / (2i),
/// w = exp(-2 pi i / n). Signals and spectra are interleaved lane by lane as in <see cref="BatchedFft{T}"/>.
/// </summary>
internal sealed class BatchedRealFft<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    static readonly ConcurrentDictionary<int, BatchedRealFft<T>> Plans = new();

    /// <summary>The (cached) plan for real length <paramref name="n"/>, a power of two of at least 2.</summary>
    public static BatchedRealFft<T> ForLength(int n)
    {
        if (n < 2 || !BitOperations.IsPow2(n)) throw new ArgumentOutOfRangeException(nameof(n), $"BatchedRealFft: length must be a power of two of at least 2, got {n}");
        return Plans.GetOrAdd(n, static len => new BatchedRealFft<T>(len));
    }

    /// <summary>Half the real length: the complex transform's length, and the number of bins minus one.</summary>
    public int Half { get; }

    readonly BatchedFft<T> _complex;
    readonly T[] _wr, _wi; // w^k = exp(-2 pi i k / n), k = 0..h

    BatchedRealFft(int n)
    {
        Half = n / 2;
        _complex = BatchedFft<T>.ForLength(Half);
        _wr = new T[Half + 1];
        _wi = new T[Half + 1];
        for (int k = 0; k <= Half; k++)
        {
            var (s, c) = Math.SinCos(-2 * Math.PI * k / n);
            _wr[k] = T.CreateTruncating(c);
            _wi[k] = T.CreateTruncating(s);
        }
        // Exact at the real axis, so DC and Nyquist bins of a real signal come out exactly real.
        (_wr[0], _wi[0], _wr[Half], _wi[Half]) = (T.One, T.Zero, -T.One, T.Zero);
    }

    /// <summary>
    /// Bins 0..h of the signals packed in (zr, zi) (zr[j] holding samples 2j and zi[j] samples 2j+1, h * Lanes
    /// elements each, destroyed) into (xr, xi), (h + 1) * Lanes elements each. <paramref name="upperHalfZero"/>: the
    /// signals are zero from sample n/2 on.
    /// </summary>
    public void Forward(Span<T> zr, Span<T> zi, Span<T> scratchRe, Span<T> scratchIm, Span<T> xr, Span<T> xi, bool upperHalfZero)
    {
        int h = Half;
        _complex.Forward(zr, zi, scratchRe, scratchIm, upperHalfZero);
        Span<Vector<T>> zR = AsVectors(zr), zI = AsVectors(zi), xR = AsVectors(xr), xI = AsVectors(xi);
        var half = new Vector<T>(T.CreateTruncating(0.5));
        for (int k = 0; k <= h; k++)
        {
            int a = k == h ? 0 : k, b = k == 0 ? 0 : h - k;
            var er = half * (zR[a] + zR[b]);
            var ei = half * (zI[a] - zI[b]);
            var or = half * (zI[a] + zI[b]);
            var oi = half * (zR[b] - zR[a]);
            var (wr, wi) = (new Vector<T>(_wr[k]), new Vector<T>(_wi[k]));
            xR[k] = er + wr * or - wi * oi;
            xI[k] = ei + wr * oi + wi * or;
        }
    }

    /// <summary>
    /// The real signals whose bins 0..h are (xr, xi), times h (unnormalised), packed into (zr, zi) as
    /// <see cref="Forward"/> reads them. The spectra are taken to be Hermitian: the imaginary parts of bins 0 and h
    /// are ignored.
    /// </summary>
    public void Inverse(Span<T> xr, Span<T> xi, Span<T> zr, Span<T> zi, Span<T> scratchRe, Span<T> scratchIm)
    {
        int h = Half;
        Span<Vector<T>> xR = AsVectors(xr), xI = AsVectors(xi), zR = AsVectors(zr), zI = AsVectors(zi);
        var half = new Vector<T>(T.CreateTruncating(0.5));
        for (int k = 0; k < h; k++)
        {
            // E = (X[k] + conj X[h-k]) / 2, O = (X[k] - conj X[h-k]) conj(w^k) / 2, Z = E + i O.
            var (ar, ai) = (xR[k], k == 0 ? Vector<T>.Zero : xI[k]);
            var (br, bi) = (xR[h - k], k == 0 ? Vector<T>.Zero : -xI[h - k]);
            var er = half * (ar + br);
            var ei = half * (ai + bi);
            var dr = half * (ar - br);
            var di = half * (ai - bi);
            var (wr, wi) = (new Vector<T>(_wr[k]), new Vector<T>(_wi[k]));
            var or = dr * wr + di * wi;
            var oi = di * wr - dr * wi;
            zR[k] = er - oi;
            zI[k] = ei + or;
        }
        _complex.Inverse(zr, zi, scratchRe, scratchIm);
    }

    /// <summary>
    /// Rows first..first+count-1 of a strided [rows, length] source (row r at rowOffsets[r], samples
    /// <paramref name="stride"/> apart) into lanes 0..count-1 of the packed form <see cref="Forward"/> reads: zr[j]
    /// holds sample 2j and zi[j] sample 2j+1. Zero beyond the signal and in unused lanes.
    /// </summary>
    public static void PackRows<TSource>(TSource[] source, long[] rowOffsets, long stride, int length, long first, int count, Span<T> zr, Span<T> zi)
        where TSource : unmanaged, INumberBase<TSource>
    {
        int lanes = BatchedFft<T>.Lanes;
        zr.Clear();
        zi.Clear();
        for (int l = 0; l < count; l++)
        {
            long offset = rowOffsets[first + l];
            for (int t = 0; t < length; t++)
            {
                T v = T.CreateTruncating(source[offset + t * stride]);
                if ((t & 1) == 0) zr[(t >> 1) * lanes + l] = v;
                else zi[(t >> 1) * lanes + l] = v;
            }
        }
    }

    /// <summary>
    /// The first <paramref name="length"/> samples of lanes 0..count-1 of packed signals (as <see cref="Inverse"/> writes
    /// them), times <paramref name="scale"/>, into contiguous rows first..first+count-1 of <paramref name="destination"/>.
    /// </summary>
    public static void UnpackRows<TDestination>(T[] zr, T[] zi, TDestination[] destination, long offset, int length, long first, int count, T scale)
        where TDestination : unmanaged, INumberBase<TDestination>
    {
        int lanes = BatchedFft<T>.Lanes;
        for (int l = 0; l < count; l++)
        {
            long row = offset + (first + l) * length;
            for (int t = 0; t < length; t++)
                destination[row + t] = TDestination.CreateTruncating(scale * ((t & 1) == 0 ? zr[(t >> 1) * lanes + l] : zi[(t >> 1) * lanes + l]));
        }
    }

    static Span<Vector<T>> AsVectors(Span<T> data) => System.Runtime.InteropServices.MemoryMarshal.Cast<T, Vector<T>>(data);
}
