using ILGPU;

namespace Engine.Backends.Ilgpu;

/// <summary>Sizes and element strides of one batched product y[M, N] = a[M, K] b[K, N].</summary>
public struct MatMulDims
{
    public long M, N, K, ARow, ACol, BRow, BCol, YRow, YCol;
}

public sealed partial class IlgpuBackend
{
    public void MatMul(StridedView a, StridedView b, StridedView y)
    {
        int r = y.Rank;
        int m = y.Shape[r - 2], n = y.Shape[r - 1], k = a.Shape[r - 1];
        if (y.Numel == 0) return;
        var dtype = y.Storage.DType;
        if (dtype == DType.Bool) throw new NotSupportedException($"MatMul: not defined for {dtype.Name()} tensors");
        // The batch dimensions (broadcast ones have stride 0) are packed like an elementwise op's shape.
        var batchShape = y.Shape[..(r - 2)];
        var (bn, views) = StridedLayout.Pack(batchShape, (a.Strides[..(r - 2)], a.Offset), (b.Strides[..(r - 2)], b.Offset), (y.Strides[..(r - 2)], y.Offset));
        var dims = new MatMulDims
        {
            M = m, N = n, K = k,
            ARow = a.Strides[r - 2], ACol = a.Strides[r - 1],
            BRow = b.Strides[r - 2], BCol = b.Strides[r - 1],
            YRow = y.Strides[r - 2], YCol = y.Strides[r - 1],
        };
        switch (dtype)
        {
            case DType.Float32: MatMulTyped<float, F32>(a, b, y, bn, views, dims); break;
            case DType.Float64: MatMulTyped<double, F64>(a, b, y, bn, views, dims); break;
            case DType.Int32: MatMulTyped<int, I32>(a, b, y, bn, views, dims); break;
            case DType.Int64: MatMulTyped<long, I64>(a, b, y, bn, views, dims); break;
        }
    }

    void MatMulTyped<T, TE>(StridedView a, StridedView b, StridedView y, Dims8 batch, View8[] views, MatMulDims dims)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, Dims8, ArrayView<T>, View8, ArrayView<T>, View8, ArrayView<T>, View8, MatMulDims> k = MatMulKernel<T, TE>;
        Load(k)(Extent(y.Numel), batch, Data<T>(a), views[0], Data<T>(b), views[1], Data<T>(y), views[2], dims);
    });

    // One thread per output element, the dot product accumulated in double (long for integers) in k order:
    // correct for any strides and broadcast batches. A tiled shared-memory GEMM is the planned fast path.
    static void MatMulKernel<T, TE>(Index1D i, Dims8 batch, ArrayView<T> a, View8 av, ArrayView<T> b, View8 bv, ArrayView<T> y, View8 yv, MatMulDims d)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long mn = d.M * d.N;
        long bi = i / mn, row = i / d.N % d.M, col = i % d.N;
        long ao = av.At(bi, batch) + row * d.ARow, bo = bv.At(bi, batch) + col * d.BCol;
        T r;
        if (e.IsInteger)
        {
            long acc = 0;
            for (long k = 0; k < d.K; k++) acc += e.ToLong(a[ao + k * d.ACol]) * e.ToLong(b[bo + k * d.BRow]);
            r = e.FromLong(acc);
        }
        else
        {
            double acc = 0;
            for (long k = 0; k < d.K; k++) acc += e.ToDouble(a[ao + k * d.ACol]) * e.ToDouble(b[bo + k * d.BRow]);
            r = e.FromDouble(acc);
        }
        y[yv.At(bi, batch) + row * d.YRow + col * d.YCol] = r;
    }
}
