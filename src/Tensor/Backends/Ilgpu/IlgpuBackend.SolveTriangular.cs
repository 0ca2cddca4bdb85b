using ILGPU;

namespace Engine.Backends.Ilgpu;

// Batched triangular solves, one thread per (matrix, right-hand-side column) running the substitution down (or up)
// its column in double precision: columns are independent, so the sequential part is only n steps long.
public sealed partial class IlgpuBackend
{
    public void SolveTriangular(StridedView a, StridedView b, StridedView x, bool upper, bool unitriangular)
    {
        if (!x.Storage.DType.IsFloating()) throw new NotSupportedException($"SolveTriangular: needs a floating tensor, got {x.Storage.DType.Name()}");
        if (x.Numel == 0) return;
        // Contiguous copies also materialise operands broadcast over the batch.
        if (!a.IsContiguous) a = ContiguousCopy(a);
        if (!b.IsContiguous) b = ContiguousCopy(b);
        int n = x.Shape[^2], m = x.Shape[^1];
        int flags = (upper ? 1 : 0) | (unitriangular ? 2 : 0);
        if (x.Storage.DType == DType.Float32) SolveTriangularTyped<float, F32>(a, b, x, n, m, flags);
        else SolveTriangularTyped<double, F64>(a, b, x, n, m, flags);
    }

    void SolveTriangularTyped<T, TE>(StridedView a, StridedView b, StridedView x, int n, int m, int flags)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int> k = SolveTriangularKernel<T, TE>;
        Load(k)(Extent(x.Numel / n), DataAt<T>(a), DataAt<T>(b), DataAt<T>(x), n, m, flags);
    });

    // Thread t solves column t % m of matrix t / m; flags: 1 = upper, 2 = unit diagonal.
    static void SolveTriangularKernel<T, TE>(Index1D t, ArrayView<T> a, ArrayView<T> b, ArrayView<T> x, int n, int m, int flags)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long matrix = (int)t / m, col = (int)t % m;
        long ao = matrix * n * n, xo = matrix * n * m + col;
        bool upper = (flags & 1) != 0, unit = (flags & 2) != 0;
        for (int step = 0; step < n; step++)
        {
            int i = upper ? n - 1 - step : step;
            int from = upper ? i + 1 : 0, to = upper ? n : i;
            double sum = e.ToDouble(b[xo + (long)i * m]);
            for (int j = from; j < to; j++) sum -= e.ToDouble(a[ao + (long)i * n + j]) * e.ToDouble(x[xo + (long)j * m]);
            x[xo + (long)i * m] = e.FromDouble(unit ? sum : sum / e.ToDouble(a[ao + (long)i * n + i]));
        }
    }
}
