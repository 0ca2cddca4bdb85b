using System.Numerics;

namespace Engine.Backends.Cpu;

// Real FFTs along the last axis, one independent row at a time, computed in double precision through
// ComplexFft whatever the tensor dtype (Float32 rows are widened on the way in and rounded on the way out).
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
}
