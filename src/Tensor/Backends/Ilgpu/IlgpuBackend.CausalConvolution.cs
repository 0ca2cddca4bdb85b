using ILGPU;

namespace Engine.Backends.Ilgpu;

// The causal convolution as a direct sum, one thread per output element, accumulated in double precision. A GPU
// runs the O(L K) sum in parallel over every output; an FFT kernel is the planned fast path for very long kernels.
public sealed partial class IlgpuBackend
{
    public void CausalConvolution(StridedView signal, StridedView kernel, StridedView y)
    {
        if (!y.Storage.DType.IsFloating()) throw new NotSupportedException($"CausalConvolution: needs a floating tensor, got {y.Storage.DType.Name()}");
        if (y.Numel == 0) return;
        // Contiguous copies also materialise a kernel broadcast over the leading dimensions.
        if (!signal.IsContiguous) signal = ContiguousCopy(signal);
        if (!kernel.IsContiguous) kernel = ContiguousCopy(kernel);
        int length = signal.Shape[^1], taps = kernel.Shape[^1];
        if (y.Storage.DType == DType.Float32) CausalConvolutionTyped<float, F32>(signal, kernel, y, length, taps);
        else CausalConvolutionTyped<double, F64>(signal, kernel, y, length, taps);
    }

    void CausalConvolutionTyped<T, TE>(StridedView signal, StridedView kernel, StridedView y, int length, int taps)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int> k = CausalConvolutionKernel<T, TE>;
        Load(k)(Extent(y.Numel), DataAt<T>(signal), DataAt<T>(kernel), DataAt<T>(y), length, taps);
    });

    // y[row, t] = sum_{m <= min(t, K-1)} kernel[row, m] signal[row, t - m]; thread t is row t / L, time t % L.
    static void CausalConvolutionKernel<T, TE>(Index1D index, ArrayView<T> signal, ArrayView<T> kernel, ArrayView<T> y, int length, int taps)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long row = (int)index / length;
        long t = (int)index % length;
        long last = Math.Min(t, taps - 1);
        double sum = 0;
        for (long m = 0; m <= last; m++)
            sum += e.ToDouble(kernel[row * taps + m]) * e.ToDouble(signal[row * length + t - m]);
        y[index] = e.FromDouble(sum);
    }
}
