using System.Buffers;
using System.Numerics;

namespace Engine.Backends.Cpu;

// The long causal convolution y[t] = sum_{m <= t} k[m] u[t - m], fused: per group of SIMD-width rows, the signal and
// the kernel go through BatchedRealFft zero-padded to n >= L + K - 1 (so the circular convolution equals the linear
// one), the spectra are multiplied, and one inverse transform gives the outputs. The whole pipeline stays in a few
// cache-resident buffers per thread; the composite rfft -> complex product -> irfft of tensors makes a full pass
// over memory per step instead (bench: `s4d`).
public sealed partial class CpuBackend
{
    /// <summary>
    /// signal [..., L] and kernel [..., K] (same leading shape; any strides, stride 0 for a broadcast kernel) to
    /// contiguous y [..., L]: y[..., t] = sum_{m = 0}^{min(t, K-1)} kernel[..., m] signal[..., t - m].
    /// </summary>
    public void CausalConvolution(StridedView signal, StridedView kernel, StridedView y)
    {
        switch (y.Storage.DType)
        {
            case DType.Float32: CausalConvolutionRows<float>(signal, kernel, y); break;
            case DType.Float64: CausalConvolutionRows<double>(signal, kernel, y); break;
            default: throw new NotSupportedException($"CausalConvolution: needs a floating tensor, got {y.Storage.DType.Name()}");
        }
    }

    static void CausalConvolutionRows<T>(StridedView signal, StridedView kernel, StridedView y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int length = signal.Shape[^1], taps = kernel.Shape[^1];
        var leading = y.Shape[..^1];
        long rows = Shapes.Numel(leading);
        if (rows == 0 || length == 0) return;
        var ys = Cpu(y).Array<T>();
        if (taps == 0)
        {
            Array.Clear(ys, (int)y.Offset, (int)(rows * length));
            return;
        }
        var (us, ks) = (Cpu(signal).Array<T>(), Cpu(kernel).Array<T>());
        var (uRows, kRows) = (BatchOffsets(signal, leading), BatchOffsets(kernel, leading));
        var (uStride, kStride) = (signal.Strides[^1], kernel.Strides[^1]);
        // n >= L + K - 1 makes the circular convolution of the padded signals equal the linear one on 0..L-1.
        int n = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(2, length + taps - 1));
        var plan = BatchedRealFft<T>.ForLength(n);
        int lanes = BatchedFft<T>.Lanes, h = plan.Half;
        long groups = (rows + lanes - 1) / lanes;
        T scale = T.One / T.CreateTruncating(h); // the inverse returns h times the signal
        CpuThreading.For(groups, groups * lanes * (long)n * BitOperations.Log2((uint)n), (start, end) =>
        {
            int packed = h * lanes, bins = (h + 1) * lanes;
            var pool = ArrayPool<T>.Shared;
            T[] zr = pool.Rent(packed), zi = pool.Rent(packed), sr = pool.Rent(packed), si = pool.Rent(packed);
            T[] ur = pool.Rent(bins), ui = pool.Rent(bins), kr = pool.Rent(bins), ki = pool.Rent(bins);
            try
            {
                for (long g = start; g < end; g++)
                {
                    long first = g * lanes;
                    int count = (int)Math.Min(lanes, rows - first);
                    // Signals are zero from n/2 on whenever L and K both fit in half the padded length.
                    BatchedRealFft<T>.PackRows(us, uRows, uStride, length, first, count, zr.AsSpan(0, packed), zi.AsSpan(0, packed));
                    plan.Forward(zr, zi, sr, si, ur, ui, upperHalfZero: 2 * length <= n);
                    BatchedRealFft<T>.PackRows(ks, kRows, kStride, taps, first, count, zr.AsSpan(0, packed), zi.AsSpan(0, packed));
                    plan.Forward(zr, zi, sr, si, kr, ki, upperHalfZero: 2 * taps <= n);
                    MultiplySpectra(ur.AsSpan(0, bins), ui.AsSpan(0, bins), kr.AsSpan(0, bins), ki.AsSpan(0, bins), scale);
                    plan.Inverse(ur, ui, zr, zi, sr, si);
                    BatchedRealFft<T>.UnpackRows(zr, zi, ys, y.Offset, length, first, count, T.One);
                }
            }
            finally
            {
                foreach (var buffer in (T[][])[zr, zi, sr, si, ur, ui, kr, ki]) pool.Return(buffer);
            }
        });
    }

    // u = u k scale, bin by bin, on interleaved spectra.
    static void MultiplySpectra<T>(Span<T> ur, Span<T> ui, Span<T> kr, Span<T> ki, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var uR = System.Runtime.InteropServices.MemoryMarshal.Cast<T, Vector<T>>(ur);
        var uI = System.Runtime.InteropServices.MemoryMarshal.Cast<T, Vector<T>>(ui);
        var kR = System.Runtime.InteropServices.MemoryMarshal.Cast<T, Vector<T>>(kr);
        var kI = System.Runtime.InteropServices.MemoryMarshal.Cast<T, Vector<T>>(ki);
        var s = new Vector<T>(scale);
        for (int k = 0; k < uR.Length; k++)
        {
            var (a, b, c, d) = (uR[k], uI[k], kR[k] * s, kI[k] * s);
            uR[k] = a * c - b * d;
            uI[k] = a * d + b * c;
        }
    }
}
