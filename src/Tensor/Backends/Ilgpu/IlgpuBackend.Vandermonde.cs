using ILGPU;

namespace Engine.Backends.Ilgpu;

// Sums of complex exponentials, one thread per output element, each exponential evaluated directly in double precision.
public sealed partial class IlgpuBackend
{
    public void VandermondeProduct(StridedView c, StridedView w, StridedView y)
    {
        if (!y.Storage.DType.IsFloating()) throw new NotSupportedException($"VandermondeProduct: needs a floating tensor, got {y.Storage.DType.Name()}");
        if (y.Numel == 0) return;
        if (!c.IsContiguous) c = ContiguousCopy(c);
        if (!w.IsContiguous) w = ContiguousCopy(w);
        int length = y.Shape[^1], modes = c.Shape[^2];
        if (y.Storage.DType == DType.Float32) VandermondeTyped<float, F32>(c, w, y, length, modes);
        else VandermondeTyped<double, F64>(c, w, y, length, modes);
    }

    void VandermondeTyped<T, TE>(StridedView c, StridedView w, StridedView y, int length, int modes)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int> k = VandermondeKernel<T, TE>;
        Load(k)(Extent(y.Numel), DataAt<T>(c), DataAt<T>(w), DataAt<T>(y), length, modes);
    });

    // y[row, l] = sum_n Re(c[row, n] exp(l w[row, n])); thread t is row t / L, l = t % L.
    static void VandermondeKernel<T, TE>(Index1D t, ArrayView<T> c, ArrayView<T> w, ArrayView<T> y, int length, int modes)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long row = (int)t / length;
        double l = (int)t % length, sum = 0;
        for (long n = 0; n < modes; n++)
        {
            long at = 2 * (row * modes + n);
            double magnitude = Math.Exp(l * e.ToDouble(w[at])), angle = l * e.ToDouble(w[at + 1]);
            sum += magnitude * (e.ToDouble(c[at]) * Math.Cos(angle) - e.ToDouble(c[at + 1]) * Math.Sin(angle));
        }
        y[t] = e.FromDouble(sum);
    }

    public void VandermondeAdjoint(StridedView g, StridedView w, StridedView s0, StridedView s1)
    {
        if (!w.Storage.DType.IsFloating()) throw new NotSupportedException($"VandermondeAdjoint: needs a floating tensor, got {w.Storage.DType.Name()}");
        if (s0.Numel == 0) return;
        if (!g.IsContiguous) g = ContiguousCopy(g);
        if (!w.IsContiguous) w = ContiguousCopy(w);
        int length = g.Shape[^1], modes = w.Shape[^2];
        if (w.Storage.DType == DType.Float32) VandermondeAdjointTyped<float, F32>(g, w, s0, s1, length, modes);
        else VandermondeAdjointTyped<double, F64>(g, w, s0, s1, length, modes);
    }

    void VandermondeAdjointTyped<T, TE>(StridedView g, StridedView w, StridedView s0, StridedView s1, int length, int modes)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int> k = VandermondeAdjointKernel<T, TE>;
        Load(k)(Extent(s0.Numel / 2), DataAt<T>(g), DataAt<T>(w), DataAt<T>(s0), DataAt<T>(s1), length, modes);
    });

    // s0[row, n] = sum_l g[row, l] exp(l w[row, n]), s1 the same with l g[row, l]; thread t is (row, n) = (t / N, t % N).
    static void VandermondeAdjointKernel<T, TE>(Index1D t, ArrayView<T> g, ArrayView<T> w, ArrayView<T> s0, ArrayView<T> s1, int length, int modes)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long row = (int)t / modes, at = 2 * (long)(int)t;
        double wr = e.ToDouble(w[at]), wi = e.ToDouble(w[at + 1]);
        double a0 = 0, b0 = 0, a1 = 0, b1 = 0;
        for (long l = 0; l < length; l++)
        {
            double gl = e.ToDouble(g[row * length + l]), magnitude = Math.Exp(l * wr), angle = l * wi;
            double re = magnitude * Math.Cos(angle), im = magnitude * Math.Sin(angle);
            a0 += gl * re;
            b0 += gl * im;
            a1 += l * gl * re;
            b1 += l * gl * im;
        }
        s0[at] = e.FromDouble(a0);
        s0[at + 1] = e.FromDouble(b0);
        s1[at] = e.FromDouble(a1);
        s1[at + 1] = e.FromDouble(b1);
    }
}
