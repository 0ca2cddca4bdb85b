using ILGPU;

namespace Engine.Backends.Ilgpu;

/// <summary>Where one op walks along its indexed axis: strides of the indexed operands, sizes, and counts.</summary>
public struct AxisWalk
{
    /// <summary>Stride of the indexed axis in the operand read or written through the index.</summary>
    public long Stride;
    /// <summary>Stride of the axis in the second operand (source or index, by op).</summary>
    public long OtherStride;
    /// <summary>Stride between consecutive entries of a 1-D index.</summary>
    public long IndexStride;
    /// <summary>Product of the domain's dimensions after the axis (to find a thread's position on the axis).</summary>
    public long Inner;
    /// <summary>Size of the domain's axis.</summary>
    public long Size;
    /// <summary>Size of the indexed axis (valid indices are -Limit..Limit-1).</summary>
    public long Limit;
    /// <summary>Number of index entries walked by each thread.</summary>
    public long Count;
}

// Indexing kernels. Out-of-range indices cannot throw on a device: the kernel records an error code that the next
// read back to the host reports (IndexErrorCodes), as CUDA's device-side asserts do. Accumulating ops (ScatterAdd,
// IndexAdd) give each output element one thread that adds its contributions in index order: deterministic, no atomics.
public sealed partial class IlgpuBackend
{
    const int GatherError = 1, ScatterAddError = 2, IndexSelectError = 3, IndexAddError = 4;

    static string IndexErrorMessage(int code) => $"{code switch { GatherError => "Gather", ScatterAddError => "ScatterAdd", IndexSelectError => "IndexSelect", _ => "IndexAdd" }}: an index was out of range for its dimension (reported by the device at the next read back)";

    static long[] WithZero(long[] strides, int axis)
    {
        var s = (long[])strides.Clone();
        s[axis] = 0;
        return s;
    }

    static long InnerCount(int[] shape, int axis)
    {
        long inner = 1;
        for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
        return inner;
    }

    public void Gather(StridedView x, int axis, StridedView index, StridedView y)
    {
        if (y.Numel == 0) return;
        var (n, v) = StridedLayout.Pack(index.Shape, (WithZero(x.Strides, axis), x.Offset), (index.Strides, index.Offset), (y.Strides, y.Offset));
        var walk = new AxisWalk { Stride = x.Strides[axis], Limit = x.Shape[axis] };
        switch (y.Storage.DType)
        {
            case DType.Float32: GatherTyped<float>(x, index, y, n, v, walk); break;
            case DType.Float64: GatherTyped<double>(x, index, y, n, v, walk); break;
            case DType.Int32: GatherTyped<int>(x, index, y, n, v, walk); break;
            case DType.Int64: GatherTyped<long>(x, index, y, n, v, walk); break;
            case DType.Bool: GatherTyped<byte>(x, index, y, n, v, walk); break;
        }
    }

    void GatherTyped<T>(StridedView x, StridedView index, StridedView y, Dims8 n, View8[] v, AxisWalk walk) where T : unmanaged => Launch(() =>
    {
        Action<Index1D, Dims8, ArrayView<T>, View8, ArrayView<long>, View8, ArrayView<T>, View8, AxisWalk, ArrayView<int>> k = GatherKernel<T>;
        Load(k)(Extent(y.Numel), n, Data<T>(x), v[0], Data<long>(index), v[1], Data<T>(y), v[2], walk, _errors.View);
    });

    static void GatherKernel<T>(Index1D i, Dims8 n, ArrayView<T> x, View8 xv, ArrayView<long> index, View8 iv, ArrayView<T> y, View8 yv, AxisWalk w, ArrayView<int> errors)
        where T : unmanaged
    {
        long at = index[iv.At(i, n)];
        if (at < 0) at += w.Limit;
        if (at < 0 || at >= w.Limit) { errors[0] = GatherError; return; }
        y[yv.At(i, n)] = x[xv.At(i, n) + at * w.Stride];
    }

    public void ScatterAdd(StridedView y, int axis, StridedView index, StridedView source)
    {
        // One thread per target element within the index's extent: its position on the axis is the value it collects.
        var domain = (int[])index.Shape.Clone();
        domain[axis] = y.Shape[axis];
        if (Shapes.Numel(domain) == 0 || index.Numel == 0) return;
        var (n, v) = StridedLayout.Pack(domain, (y.Strides, y.Offset), (WithZero(index.Strides, axis), index.Offset), (WithZero(source.Strides, axis), source.Offset));
        var walk = new AxisWalk
        {
            Stride = source.Strides[axis], OtherStride = index.Strides[axis], Inner = InnerCount(domain, axis),
            Size = domain[axis], Limit = y.Shape[axis], Count = index.Shape[axis],
        };
        switch (y.Storage.DType)
        {
            case DType.Float32: ScatterAddTyped<float, F32>(y, index, source, domain, n, v, walk); break;
            case DType.Float64: ScatterAddTyped<double, F64>(y, index, source, domain, n, v, walk); break;
            case DType.Int32: ScatterAddTyped<int, I32>(y, index, source, domain, n, v, walk); break;
            case DType.Int64: ScatterAddTyped<long, I64>(y, index, source, domain, n, v, walk); break;
            case DType.Bool: ScatterAddTyped<byte, B8>(y, index, source, domain, n, v, walk); break;
        }
    }

    void ScatterAddTyped<T, TE>(StridedView y, StridedView index, StridedView source, int[] domain, Dims8 n, View8[] v, AxisWalk walk)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, Dims8, ArrayView<T>, View8, ArrayView<long>, View8, ArrayView<T>, View8, AxisWalk, ArrayView<int>> k = ScatterAddKernel<T, TE>;
        Load(k)(Extent(Shapes.Numel(domain)), n, Data<T>(y), v[0], Data<long>(index), v[1], Data<T>(source), v[2], walk, _errors.View);
    });

    static void ScatterAddKernel<T, TE>(Index1D j, Dims8 n, ArrayView<T> y, View8 yv, ArrayView<long> index, View8 iv, ArrayView<T> src, View8 sv, AxisWalk w, ArrayView<int> errors)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long target = j / w.Inner % w.Size;
        long yo = yv.At(j, n), io = iv.At(j, n), so = sv.At(j, n);
        T acc = y[yo];
        for (long k = 0; k < w.Count; k++)
        {
            long at = index[io + k * w.OtherStride];
            if (at < 0) at += w.Limit;
            if (at < 0 || at >= w.Limit) { errors[0] = ScatterAddError; continue; }
            if (at != target) continue;
            T s = src[so + k * w.Stride];
            // Rounded to T after every addition, as the CPU's sequential in-place sum.
            acc = e.IsInteger ? e.FromLong(e.ToLong(acc) + e.ToLong(s)) : e.FromDouble(e.ToDouble(acc) + e.ToDouble(s));
        }
        y[yo] = acc;
    }

    public void IndexSelect(StridedView x, int axis, StridedView index, StridedView y)
    {
        if (y.Numel == 0) return;
        var (n, v) = StridedLayout.Pack(y.Shape, (WithZero(x.Strides, axis), x.Offset), (y.Strides, y.Offset));
        var walk = new AxisWalk
        {
            Stride = x.Strides[axis], IndexStride = index.Strides[0], Inner = InnerCount(y.Shape, axis),
            Size = y.Shape[axis], Limit = x.Shape[axis],
        };
        switch (y.Storage.DType)
        {
            case DType.Float32: IndexSelectTyped<float>(x, index, y, n, v, walk); break;
            case DType.Float64: IndexSelectTyped<double>(x, index, y, n, v, walk); break;
            case DType.Int32: IndexSelectTyped<int>(x, index, y, n, v, walk); break;
            case DType.Int64: IndexSelectTyped<long>(x, index, y, n, v, walk); break;
            case DType.Bool: IndexSelectTyped<byte>(x, index, y, n, v, walk); break;
        }
    }

    void IndexSelectTyped<T>(StridedView x, StridedView index, StridedView y, Dims8 n, View8[] v, AxisWalk walk) where T : unmanaged => Launch(() =>
    {
        Action<Index1D, Dims8, ArrayView<T>, View8, ArrayView<long>, ArrayView<T>, View8, AxisWalk, ArrayView<int>> k = IndexSelectKernel<T>;
        Load(k)(Extent(y.Numel), n, Data<T>(x), v[0], DataAt<long>(index), Data<T>(y), v[1], walk, _errors.View);
    });

    static void IndexSelectKernel<T>(Index1D i, Dims8 n, ArrayView<T> x, View8 xv, ArrayView<long> index, ArrayView<T> y, View8 yv, AxisWalk w, ArrayView<int> errors)
        where T : unmanaged
    {
        long at = index[i / w.Inner % w.Size * w.IndexStride];
        if (at < 0) at += w.Limit;
        if (at < 0 || at >= w.Limit) { errors[0] = IndexSelectError; return; }
        y[yv.At(i, n)] = x[xv.At(i, n) + at * w.Stride];
    }

    public void IndexAdd(StridedView y, int axis, StridedView index, StridedView source)
    {
        if (y.Numel == 0 || index.Numel == 0) return;
        var (n, v) = StridedLayout.Pack(y.Shape, (y.Strides, y.Offset), (WithZero(source.Strides, axis), source.Offset));
        var walk = new AxisWalk
        {
            Stride = source.Strides[axis], IndexStride = index.Strides[0], Inner = InnerCount(y.Shape, axis),
            Size = y.Shape[axis], Limit = y.Shape[axis], Count = index.Numel,
        };
        switch (y.Storage.DType)
        {
            case DType.Float32: IndexAddTyped<float, F32>(y, index, source, n, v, walk); break;
            case DType.Float64: IndexAddTyped<double, F64>(y, index, source, n, v, walk); break;
            case DType.Int32: IndexAddTyped<int, I32>(y, index, source, n, v, walk); break;
            case DType.Int64: IndexAddTyped<long, I64>(y, index, source, n, v, walk); break;
            case DType.Bool: IndexAddTyped<byte, B8>(y, index, source, n, v, walk); break;
        }
    }

    void IndexAddTyped<T, TE>(StridedView y, StridedView index, StridedView source, Dims8 n, View8[] v, AxisWalk walk)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, Dims8, ArrayView<T>, View8, ArrayView<long>, ArrayView<T>, View8, AxisWalk, ArrayView<int>> k = IndexAddKernel<T, TE>;
        Load(k)(Extent(y.Numel), n, Data<T>(y), v[0], DataAt<long>(index), Data<T>(source), v[1], walk, _errors.View);
    });

    static void IndexAddKernel<T, TE>(Index1D j, Dims8 n, ArrayView<T> y, View8 yv, ArrayView<long> index, ArrayView<T> src, View8 sv, AxisWalk w, ArrayView<int> errors)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long target = j / w.Inner % w.Size;
        long yo = yv.At(j, n), so = sv.At(j, n);
        T acc = y[yo];
        for (long i = 0; i < w.Count; i++)
        {
            long at = index[i * w.IndexStride];
            if (at < 0) at += w.Limit;
            if (at < 0 || at >= w.Limit) { errors[0] = IndexAddError; continue; }
            if (at != target) continue;
            T s = src[so + i * w.Stride];
            acc = e.IsInteger ? e.FromLong(e.ToLong(acc) + e.ToLong(s)) : e.FromDouble(e.ToDouble(acc) + e.ToDouble(s));
        }
        y[yo] = acc;
    }
}
