namespace Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public void Gather(StridedView x, int axis, StridedView index, StridedView y)
        => DispatchAll(y.Storage.DType, new GatherAction(x, axis, index, y));

    readonly struct GatherAction(StridedView x, int axis, StridedView index, StridedView y) : IAnyAction
    {
        public void Invoke<T>() where T : unmanaged
        {
            // Walk the index tensor; x is addressed with the index value on `axis` and the loop position elsewhere.
            var X = Cpu(x).Array<T>();
            var Y = Cpu(y).Array<T>();
            var I = Cpu(index).Array<long>();
            var (xv, iv, yv) = (x, index, y);
            var shape = index.Shape;
            int ax = axis, size = x.Shape[axis];
            ForEachIndex(shape, pos =>
            {
                long ii = iv.Offset, xi = xv.Offset, yi = yv.Offset;
                for (int d = 0; d < pos.Length; d++)
                {
                    ii += pos[d] * iv.Strides[d];
                    yi += pos[d] * yv.Strides[d];
                    if (d != ax) xi += pos[d] * xv.Strides[d];
                }
                long at = I[ii];
                if (at < -size || at >= size) throw new ArgumentOutOfRangeException("index", $"Gather: index {at} is out of range for dimension {ax} of size {size}");
                if (at < 0) at += size;
                Y[yi] = X[xi + at * xv.Strides[ax]];
            });
        }
    }

    public void ScatterAdd(StridedView y, int axis, StridedView index, StridedView source)
        => DispatchNumeric(y.Storage.DType, new ScatterAddAction(y, axis, index, source));

    readonly struct ScatterAddAction(StridedView y, int axis, StridedView index, StridedView source) : INumericAction
    {
        public void Invoke<T>() where T : unmanaged, System.Numerics.INumber<T>
        {
            // Sequential on purpose: several source elements may land on one target, and a fixed order keeps sums deterministic.
            var Y = Cpu(y).Array<T>();
            var S = Cpu(source).Array<T>();
            var I = Cpu(index).Array<long>();
            var (yv, iv, sv) = (y, index, source);
            int ax = axis, size = y.Shape[axis];
            ForEachIndex(index.Shape, pos =>
            {
                long ii = iv.Offset, si = sv.Offset, yi = yv.Offset;
                for (int d = 0; d < pos.Length; d++)
                {
                    ii += pos[d] * iv.Strides[d];
                    si += pos[d] * sv.Strides[d];
                    if (d != ax) yi += pos[d] * yv.Strides[d];
                }
                long at = I[ii];
                if (at < -size || at >= size) throw new ArgumentOutOfRangeException("index", $"ScatterAdd: index {at} is out of range for dimension {ax} of size {size}");
                if (at < 0) at += size;
                Y[yi + at * yv.Strides[ax]] += S[si];
            });
        }
    }

    public void IndexSelect(StridedView x, int axis, StridedView index, StridedView y)
    {
        // Each selected slice is a strided copy: x narrowed to one position on `axis` into y's slot i.
        var idx = new long[index.Numel];
        ToHost<long>(index, idx);
        int size = x.Shape[axis];
        var xStrides = x.Strides;
        if (axis == 0 && x.IsContiguous && y.IsContiguous)
        {
            // Whole rows of contiguous tensors (an embedding lookup, a mixture-of-experts gather): one span copy per
            // index, without building a strided view and a dispatch for every row.
            DispatchAll(x.Storage.DType, new SelectRowsAction(x, idx, y));
            return;
        }
        var sliceShape = (int[])x.Shape.Clone();
        sliceShape[axis] = 1;
        for (int i = 0; i < idx.Length; i++)
        {
            long at = idx[i];
            if (at < -size || at >= size) throw new ArgumentOutOfRangeException("index", $"IndexSelect: index {at} is out of range for dimension {axis} of size {size}");
            if (at < 0) at += size;
            var from = new StridedView(x.Storage, sliceShape, xStrides, x.Offset + at * xStrides[axis]);
            var to = new StridedView(y.Storage, sliceShape, y.Strides, y.Offset + i * y.Strides[axis]);
            DispatchAll(x.Storage.DType, new CopyAction(from, to));
        }
    }

    public void IndexAdd(StridedView y, int axis, StridedView index, StridedView source)
        => DispatchNumeric(y.Storage.DType, new IndexAddAction(y, axis, index, source));

    readonly struct SelectRowsAction(StridedView x, long[] idx, StridedView y) : IAnyAction
    {
        public void Invoke<T>() where T : unmanaged
        {
            int size = x.Shape[0];
            int row = (int)(x.Numel / Math.Max(size, 1));
            var (X, Y) = (Cpu(x).Array<T>(), Cpu(y).Array<T>());
            for (int i = 0; i < idx.Length; i++)
            {
                long at = idx[i];
                if (at < -size || at >= size) throw new ArgumentOutOfRangeException("index", $"IndexSelect: index {at} is out of range for dimension 0 of size {size}");
                if (at < 0) at += size;
                X.AsSpan((int)(x.Offset + at * row), row).CopyTo(Y.AsSpan((int)(y.Offset + (long)i * row), row));
            }
        }
    }

    readonly struct IndexAddAction(StridedView y, int axis, StridedView index, StridedView source) : INumericAction
    {
        public void Invoke<T>() where T : unmanaged, System.Numerics.INumber<T>
        {
            // Slices are added one index at a time, in order, so repeated indices sum deterministically.
            var idx = new long[index.Numel];
            Instance.ToHost<long>(index, idx);
            int size = y.Shape[axis];
            var (Y, S) = (Cpu(y).Array<T>(), Cpu(source).Array<T>());
            if (axis == 0 && y.IsContiguous && source.IsContiguous)
            {
                // Whole rows (a mixture-of-experts scatter, an embedding's gradient): the same in-order row sums as
                // below, one span add per index instead of a strided loop built for every row.
                int row = (int)(source.Numel / Math.Max(source.Shape[0], 1));
                for (int i = 0; i < idx.Length; i++)
                {
                    long at = idx[i];
                    if (at < -size || at >= size) throw new ArgumentOutOfRangeException("index", $"IndexAdd: index {at} is out of range for dimension {axis} of size {size}");
                    if (at < 0) at += size;
                    var dst = Y.AsSpan((int)(y.Offset + at * row), row);
                    System.Numerics.Tensors.TensorPrimitives.Add(dst, S.AsSpan((int)(source.Offset + (long)i * row), row), dst);
                }
                return;
            }
            var sliceShape = (int[])source.Shape.Clone();
            sliceShape[axis] = 1;
            for (int i = 0; i < idx.Length; i++)
            {
                long at = idx[i];
                if (at < -size || at >= size) throw new ArgumentOutOfRangeException("index", $"IndexAdd: index {at} is out of range for dimension {axis} of size {size}");
                if (at < 0) at += size;
                var from = new StridedView(source.Storage, sliceShape, source.Strides, source.Offset + i * source.Strides[axis]);
                var to = new StridedView(y.Storage, sliceShape, y.Strides, y.Offset + at * y.Strides[axis]);
                new StridedLoop(sliceShape, from, to).Run(new AddIntoRow<T>(S, Y));
            }
        }
    }

    readonly struct AddIntoRow<T>(T[] x, T[] y) : IRowKernel where T : unmanaged, System.Numerics.INumber<T>
    {
        public void Row(ReadOnlySpan<long> o, int n, ReadOnlySpan<long> s)
        {
            if (s[0] == 1 && s[1] == 1)
            {
                var dst = y.AsSpan((int)o[1], n);
                System.Numerics.Tensors.TensorPrimitives.Add(dst, x.AsSpan((int)o[0], n), dst);
                return;
            }
            for (int i = 0; i < n; i++) y[o[1] + i * s[1]] += x[o[0] + i * s[0]];
        }
    }

    // Visits every multi-index of a shape in row-major order.
    static void ForEachIndex(int[] shape, Action<int[]> visit)
    {
        if (Shapes.Numel(shape) == 0) return;
        var pos = new int[shape.Length];
        while (true)
        {
            visit(pos);
            int d = shape.Length - 1;
            for (; d >= 0; d--)
            {
                if (++pos[d] < shape[d]) break;
                pos[d] = 0;
            }
            if (d < 0) return;
        }
    }
}
