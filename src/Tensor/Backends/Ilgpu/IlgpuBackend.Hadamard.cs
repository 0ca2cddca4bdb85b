using ILGPU;

namespace Engine.Backends.Ilgpu;

// The fast Walsh–Hadamard transform in place: one launch per stage, one thread per butterfly pair of every row.
// (A shared-memory kernel doing the first stages of a block in one launch would save launches; not needed yet.)
public sealed partial class IlgpuBackend
{
    /// <inheritdoc/>
    public void Fwht(StridedView x)
    {
        if (!x.Storage.DType.IsFloating()) throw new NotSupportedException($"Fwht: needs a floating tensor, got {x.Storage.DType.Name()}");
        int length = x.Shape[^1];
        if (x.Numel == 0 || length < 2) return;
        if (x.Storage.DType == DType.Float32) FwhtTyped<float, F32>(x, length);
        else FwhtTyped<double, F64>(x, length);
    }

    void FwhtTyped<T, TE>(StridedView x, int length) where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, ArrayView<T>, int, int> k = FwhtStageKernel<T, TE>;
        var kernel = Load(k);
        for (int h = 1; h < length; h <<= 1) kernel(Extent(x.Numel / 2), DataAt<T>(x), length, h);
    });

    // Thread t: row t / (L/2), pair p = t % (L/2) at entry (p / h) 2h + p % h and its partner h later.
    static void FwhtStageKernel<T, TE>(Index1D t, ArrayView<T> x, int length, int h) where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long index = (int)t, half = length / 2, row = index / half, p = index % half;
        long i = row * length + p / h * 2 * h + p % h;
        double a = e.ToDouble(x[i]), b = e.ToDouble(x[i + h]);
        x[i] = e.FromDouble(a + b);
        x[i + h] = e.FromDouble(a - b);
    }
}
