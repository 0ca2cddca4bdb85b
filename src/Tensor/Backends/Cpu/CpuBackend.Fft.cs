using System.Numerics;

namespace Engine.Backends.Cpu;

// Real FFTs along the last axis, computed in double precision whatever the tensor dtype (Float32 rows are widened on
// the way in and rounded on the way out). Power-of-two lengths go through BatchedRealFft, one row per SIMD lane;
// other lengths one row at a time through RealFft (even) or ComplexFft (odd, Bluestein when not a power of two).
public sealed partial class CpuBackend
{
    /// <summary>
    /// x [..., n] (Float32/Float64, any strides) to contiguous y [..., n/2+1, 2] of the same dtype:
    /// y[..., k, :] = (Re, Im) of sum_j x[j] exp(-2 pi i j k / n), unnormalised as torch.fft.rfft.
    /// </summary>
    public void Rfft(StridedView x, StridedView y)
    {
        int n = x.Shape[^1];
        if (!x.IsContiguous) x = Contiguous(x);
        long rows = n == 0 ? 0 : x.Numel / n;
        if (rows == 0) return;
        if (n >= 2 && BitOperations.IsPow2(n))
        {
            if (x.Storage.DType == DType.Float32) RfftBatched<float>(x, y, n, rows);
            else RfftBatched<double>(x, y, n, rows);
            return;
        }
        int bins = n / 2 + 1;
        // Even lengths go through a complex transform of half the length (RealFft); odd ones through a full one.
        var real = n % 2 == 0 ? RealFft.ForLength(n) : null;
        var plan = real is null ? ComplexFft.ForLength(n) : null;
        var xs = Cpu(x);
        var ys = Cpu(y);
        bool single = x.Storage.DType == DType.Float32;
        long xo = x.Offset, yo = y.Offset;
        CpuThreading.For(rows, rows * n * Math.Max(1, BitOperations.Log2((uint)n)), (start, end) =>
        {
            // Scratch once per range, not per row.
            var re = new double[n];
            var im = new double[n];
            var signal = new double[n];
            int scratch = real?.ScratchLength ?? plan!.ScratchLength;
            var sr = new double[scratch];
            var si = new double[scratch];
            for (long r = start; r < end; r++)
            {
                long xi = xo + r * n, yi = yo + r * bins * 2;
                if (single)
                {
                    var src = xs.Array<float>();
                    for (int j = 0; j < n; j++) re[j] = src[xi + j];
                }
                else
                {
                    xs.Array<double>().AsSpan((int)xi, n).CopyTo(re);
                }
                if (real is not null)
                {
                    re.AsSpan(0, n).CopyTo(signal);
                    real.Forward(signal, re, im, sr, si);
                }
                else
                {
                    Array.Clear(im);
                    plan!.Forward(re, im, sr, si);
                }
                if (single)
                {
                    var dst = ys.Array<float>();
                    for (int k = 0; k < bins; k++) { dst[yi + 2 * k] = (float)re[k]; dst[yi + 2 * k + 1] = (float)im[k]; }
                }
                else
                {
                    var dst = ys.Array<double>();
                    for (int k = 0; k < bins; k++) { dst[yi + 2 * k] = re[k]; dst[yi + 2 * k + 1] = im[k]; }
                }
            }
        });
    }

    /// <summary>
    /// x [..., m, 2] (Float32/Float64, any strides) to contiguous real y [..., n] of the same dtype, n = y's last
    /// dimension: the inverse DFT with the 1/n factor (torch.fft.irfft, norm "backward"). As PyTorch's C2R, only bins
    /// 0..n/2 are read (missing ones count as zero), the rest of the spectrum is taken to be Hermitian, and the
    /// imaginary parts of the DC bin and, for even n, the Nyquist bin are ignored.
    /// </summary>
    public void Irfft(StridedView x, StridedView y)
    {
        int n = y.Shape[^1];
        int m = x.Shape[^2];
        if (!x.IsContiguous) x = Contiguous(x);
        long rows = n == 0 ? 0 : y.Numel / n;
        if (rows == 0) return;
        int used = Math.Min(m, n / 2 + 1);
        if (n >= 2 && BitOperations.IsPow2(n))
        {
            if (x.Storage.DType == DType.Float32) IrfftBatched<float>(x, y, n, m, rows);
            else IrfftBatched<double>(x, y, n, m, rows);
            return;
        }
        var real = n % 2 == 0 ? RealFft.ForLength(n) : null;
        var plan = real is null ? ComplexFft.ForLength(n) : null;
        var xs = Cpu(x);
        var ys = Cpu(y);
        bool single = x.Storage.DType == DType.Float32;
        long xo = x.Offset, yo = y.Offset;
        double scale = 1.0 / n;
        CpuThreading.For(rows, rows * n * Math.Max(1, BitOperations.Log2((uint)n)), (start, end) =>
        {
            var re = new double[n];
            var im = new double[n];
            var signal = new double[n];
            int scratch = real?.ScratchLength ?? plan!.ScratchLength;
            var sr = new double[scratch];
            var si = new double[scratch];
            for (long r = start; r < end; r++)
            {
                long xi = xo + r * m * 2, yi = yo + r * n;
                Array.Clear(re);
                Array.Clear(im);
                if (single)
                {
                    var src = xs.Array<float>();
                    for (int k = 0; k < used; k++) { re[k] = src[xi + 2 * k]; im[k] = src[xi + 2 * k + 1]; }
                }
                else
                {
                    var src = xs.Array<double>();
                    for (int k = 0; k < used; k++) { re[k] = src[xi + 2 * k]; im[k] = src[xi + 2 * k + 1]; }
                }
                im[0] = 0;
                if (n % 2 == 0) im[n / 2] = 0;
                if (real is not null)
                {
                    real.Inverse(re, im, signal, sr, si);
                    signal.CopyTo(re, 0);
                }
                else
                {
                    // Hermitian symmetry X[n-k] = conj(X[k]) fills the bins a real signal's spectrum implies.
                    for (int k = 1; k < (n + 1) / 2; k++)
                    {
                        re[n - k] = re[k];
                        im[n - k] = -im[k];
                    }
                    plan!.Inverse(re, im, sr, si);
                }
                if (single)
                {
                    var dst = ys.Array<float>();
                    for (int j = 0; j < n; j++) dst[yi + j] = (float)(re[j] * scale);
                }
                else
                {
                    var dst = ys.Array<double>();
                    for (int j = 0; j < n; j++) dst[yi + j] = re[j] * scale;
                }
            }
        });
    }

    // Rfft of contiguous rows of a power-of-two length n, BatchedFft<double>.Lanes rows at a time.
    static void RfftBatched<T>(StridedView x, StridedView y, int n, long rows) where T : unmanaged, INumberBase<T>
    {
        var plan = BatchedRealFft<double>.ForLength(n);
        int lanes = BatchedFft<double>.Lanes, h = plan.Half;
        var (xs, ys) = (Cpu(x).Array<T>(), Cpu(y).Array<T>());
        var offsets = new long[rows];
        for (long r = 0; r < rows; r++) offsets[r] = x.Offset + r * n;
        ForEachLaneGroup(plan, rows, (first, count, b) =>
        {
            BatchedRealFft<double>.PackRows(xs, offsets, 1, n, first, count, b.Zr, b.Zi);
            plan.Forward(b.Zr, b.Zi, b.Sr, b.Si, b.Re, b.Im, upperHalfZero: false);
            for (int l = 0; l < count; l++)
            {
                long yo = y.Offset + (first + l) * (h + 1) * 2;
                for (int k = 0; k <= h; k++)
                {
                    ys[yo + 2 * k] = T.CreateTruncating(b.Re[k * lanes + l]);
                    ys[yo + 2 * k + 1] = T.CreateTruncating(b.Im[k * lanes + l]);
                }
            }
        });
    }

    // Irfft into contiguous rows of a power-of-two length n from half spectra of m bins (missing bins are zero).
    static void IrfftBatched<T>(StridedView x, StridedView y, int n, int m, long rows) where T : unmanaged, INumberBase<T>
    {
        var plan = BatchedRealFft<double>.ForLength(n);
        int lanes = BatchedFft<double>.Lanes, h = plan.Half, used = Math.Min(m, h + 1);
        var (xs, ys) = (Cpu(x).Array<T>(), Cpu(y).Array<T>());
        ForEachLaneGroup(plan, rows, (first, count, b) =>
        {
            Array.Clear(b.Re);
            Array.Clear(b.Im);
            for (int l = 0; l < count; l++)
            {
                long xo = x.Offset + (first + l) * m * 2;
                for (int k = 0; k < used; k++)
                {
                    b.Re[k * lanes + l] = double.CreateTruncating(xs[xo + 2 * k]);
                    b.Im[k * lanes + l] = double.CreateTruncating(xs[xo + 2 * k + 1]);
                }
            }
            // The batched inverse returns h times the signal irfft defines (with its 1/n).
            plan.Inverse(b.Re, b.Im, b.Zr, b.Zi, b.Sr, b.Si);
            BatchedRealFft<double>.UnpackRows(b.Zr, b.Zi, ys, y.Offset, n, first, count, 1.0 / h);
        });
    }

    // One thread's buffers for BatchedRealFft: packed signals (Zr, Zi), the transform's scratch (Sr, Si) and bins (Re, Im).
    sealed class LaneGroupBuffers(int packed, int bins)
    {
        public readonly double[] Zr = new double[packed], Zi = new double[packed], Sr = new double[packed], Si = new double[packed];
        public readonly double[] Re = new double[bins], Im = new double[bins];
    }

    // Runs body(first row, rows in the group, buffers) over groups of BatchedFft<double>.Lanes rows, groups in parallel.
    static void ForEachLaneGroup(BatchedRealFft<double> plan, long rows, Action<long, int, LaneGroupBuffers> body)
    {
        int lanes = BatchedFft<double>.Lanes, h = plan.Half;
        long groups = (rows + lanes - 1) / lanes;
        CpuThreading.For(groups, rows * 2L * h * BitOperations.Log2((uint)(2 * h)), (start, end) =>
        {
            var buffers = new LaneGroupBuffers(h * lanes, (h + 1) * lanes);
            for (long g = start; g < end; g++) body(g * lanes, (int)Math.Min(lanes, rows - g * lanes), buffers);
        });
    }
}
