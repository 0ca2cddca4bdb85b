using ILGPU;

namespace Engine.Backends.Ilgpu;

// Real DFTs along the last axis as direct O(n^2) sums, one thread per output element, in double precision like
// the CPU's FFT. Angles use (j k mod n) so they stay small and accurate. A radix-2 kernel is the planned fast path.
public sealed partial class IlgpuBackend
{
    public void Rfft(StridedView x, StridedView y)
    {
        int n = x.Shape[^1];
        if (!x.Storage.DType.IsFloating()) throw new NotSupportedException($"Rfft: needs a floating tensor, got {x.Storage.DType.Name()}");
        if (n == 0 || y.Numel == 0) return;
        if (!x.IsContiguous) x = ContiguousCopy(x);
        if (x.Storage.DType == DType.Float32) RfftTyped<float, F32>(x, y, n);
        else RfftTyped<double, F64>(x, y, n);
    }

    void RfftTyped<T, TE>(StridedView x, StridedView y, int n) where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, ArrayView<T>, ArrayView<T>, int> k = RfftKernel<T, TE>;
        Load(k)(Extent(y.Numel / 2), DataAt<T>(x), DataAt<T>(y), n);
    });

    // y[..., k, :] = (Re, Im) of sum_j x[j] exp(-2 pi i j k / n); thread t is row t / bins, bin t % bins.
    static void RfftKernel<T, TE>(Index1D t, ArrayView<T> x, ArrayView<T> y, int n) where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        int bins = n / 2 + 1;
        long row = (int)t / bins;
        long k = (int)t % bins;
        double re = 0, im = 0;
        for (long j = 0; j < n; j++)
        {
            double angle = 2 * Math.PI * (j * k % n) / n;
            double v = e.ToDouble(x[row * n + j]);
            re += v * Math.Cos(angle);
            im -= v * Math.Sin(angle);
        }
        y[2 * (long)(int)t] = e.FromDouble(re);
        y[2 * (long)(int)t + 1] = e.FromDouble(im);
    }

    public void Irfft(StridedView x, StridedView y)
    {
        int n = y.Shape[^1];
        if (!x.Storage.DType.IsFloating()) throw new NotSupportedException($"Irfft: needs a floating tensor, got {x.Storage.DType.Name()}");
        if (n == 0 || y.Numel == 0) return;
        if (!x.IsContiguous) x = ContiguousCopy(x);
        int m = x.Shape[^2];
        if (x.Storage.DType == DType.Float32) IrfftTyped<float, F32>(x, y, n, m);
        else IrfftTyped<double, F64>(x, y, n, m);
    }

    void IrfftTyped<T, TE>(StridedView x, StridedView y, int n, int m) where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, ArrayView<T>, ArrayView<T>, int, int> k = IrfftKernel<T, TE>;
        Load(k)(Extent(y.Numel), DataAt<T>(x), DataAt<T>(y), n, m);
    });

    // The inverse with the 1/n factor over the Hermitian spectrum X[n-k] = conj(X[k]), reading only bins 0..n/2 that
    // exist (missing ones are zero) and ignoring the imaginary parts of the DC and, for even n, Nyquist bins, as
    // PyTorch's C2R transform and the CPU backend do.
    static void IrfftKernel<T, TE>(Index1D t, ArrayView<T> x, ArrayView<T> y, int n, int m) where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long row = (int)t / n;
        long j = (int)t % n;
        long used = Math.Min(m, n / 2 + 1);
        long xo = row * m * 2;
        double sum = e.ToDouble(x[xo]);
        for (long k = 1; k < (n + 1) / 2 && k < used; k++)
        {
            double angle = 2 * Math.PI * (j * k % n) / n;
            sum += 2 * (e.ToDouble(x[xo + 2 * k]) * Math.Cos(angle) - e.ToDouble(x[xo + 2 * k + 1]) * Math.Sin(angle));
        }
        if (n % 2 == 0 && n / 2 < used) sum += e.ToDouble(x[xo + n]) * (j % 2 == 0 ? 1 : -1);
        y[t] = e.FromDouble(sum / n);
    }
}
