using System.Numerics;
using System.Numerics.Tensors;

namespace Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    // Long single-row reductions are cut into blocks of this many elements whatever the thread count,
    // and the block results combined in order, so the answer never depends on threading.
    const int ReduceBlock = 1 << 16;

    public void Reduce(ReduceOp op, StridedView x, int[] axes, StridedView y)
    {
        int rank = x.Rank;
        var reduced = new bool[rank];
        foreach (var a in axes) reduced[a] = true;
        var kept = Enumerable.Range(0, rank).Where(d => !reduced[d]).ToArray();
        var gone = Enumerable.Range(0, rank).Where(d => reduced[d]).ToArray();
        long outer = 1, inner = 1;
        foreach (var d in kept) outer *= x.Shape[d];
        foreach (var d in gone) inner *= x.Shape[d];

        // Reduced axes first: if that order is contiguous, the reduction is a sum of whole rows (bias gradients).
        var leading = x.Permute([.. gone, .. kept]);
        if (inner > 1 && outer > 1 && leading.IsContiguous)
        {
            DispatchNumeric(x.Storage.DType, new ReduceLeading(op, leading.Storage, (int)leading.Offset, (int)inner, (int)outer, y));
            return;
        }
        var trailing = x.Permute([.. kept, .. gone]);
        if (!trailing.IsContiguous) trailing = Contiguous(trailing);
        DispatchNumeric(x.Storage.DType, new ReduceTrailing(op, trailing.Storage, (int)trailing.Offset, (int)outer, (int)inner, y));
    }

    /// <summary>A generic action over numeric element types (Bool runs as byte), for kernels that need arithmetic.</summary>
    internal interface INumericAction { void Invoke<T>() where T : unmanaged, INumber<T>; }

    static void DispatchNumeric<TAction>(DType dtype, TAction action) where TAction : struct, INumericAction
    {
        switch (dtype)
        {
            case DType.Float32: action.Invoke<float>(); break;
            case DType.Float64: action.Invoke<double>(); break;
            case DType.Int32: action.Invoke<int>(); break;
            case DType.Int64: action.Invoke<long>(); break;
            case DType.Bool: action.Invoke<byte>(); break;
        }
    }

    static T ReduceSpan<T>(ReduceOp op, ReadOnlySpan<T> v) where T : unmanaged, INumber<T>
    {
        if (v.Length == 0)
            return op switch
            {
                ReduceOp.Sum => T.Zero,
                ReduceOp.Prod => T.One,
                _ => throw new ArgumentException($"{op}: cannot reduce an empty dimension (no identity)"),
            };
        return op switch
        {
            ReduceOp.Sum => TensorPrimitives.Sum(v),
            ReduceOp.Prod => TensorPrimitives.Product(v),
            ReduceOp.Max => TensorPrimitives.Max(v),
            _ => TensorPrimitives.Min(v),
        };
    }

    static T Combine<T>(ReduceOp op, T a, T b) where T : INumber<T> => op switch
    {
        ReduceOp.Sum => a + b,
        ReduceOp.Prod => a * b,
        ReduceOp.Max => T.IsNaN(a) || T.IsNaN(b) ? a + b : T.Max(a, b),
        _ => T.IsNaN(a) || T.IsNaN(b) ? a + b : T.Min(a, b),
    };

    readonly struct ReduceTrailing(ReduceOp op, Storage xs, int xo, int outer, int inner, StridedView y) : INumericAction
    {
        public void Invoke<T>() where T : unmanaged, INumber<T>
        {
            var x = ((CpuStorage)xs).Array<T>();
            var yy = Cpu(y).Array<T>();
            int yo = (int)y.Offset;
            var (o, n, opv, xoff) = (outer, inner, op, xo);
            if (outer == 1 && inner > ReduceBlock)
            {
                int blocks = (inner + ReduceBlock - 1) / ReduceBlock;
                var partial = new T[blocks];
                CpuThreading.For(blocks, inner, (s, e) =>
                {
                    for (long bi = s; bi < e; bi++)
                    {
                        int start = (int)bi * ReduceBlock;
                        partial[bi] = ReduceSpan(opv, new ReadOnlySpan<T>(x, xoff + start, Math.Min(ReduceBlock, n - start)));
                    }
                });
                T acc = partial[0];
                for (int i = 1; i < blocks; i++) acc = Combine(opv, acc, partial[i]);
                yy[yo] = acc;
                return;
            }
            CpuThreading.For(o, (long)o * n, (s, e) =>
            {
                for (long r = s; r < e; r++) yy[yo + r] = ReduceSpan(opv, new ReadOnlySpan<T>(x, xoff + (int)r * n, n));
            });
        }
    }

    readonly struct ReduceLeading(ReduceOp op, Storage xs, int xo, int inner, int outer, StridedView y) : INumericAction
    {
        public void Invoke<T>() where T : unmanaged, INumber<T>
        {
            var x = ((CpuStorage)xs).Array<T>();
            var yy = Cpu(y).Array<T>();
            int yo = (int)y.Offset;
            var (n, m, opv, xoff) = (inner, outer, op, xo);
            // Columns are independent, so cutting them across threads keeps every sum in the same order.
            CpuThreading.For(m, (long)m * n, (s, e) =>
            {
                int c0 = (int)s, len = (int)(e - s);
                var acc = new Span<T>(yy, yo + c0, len);
                new ReadOnlySpan<T>(x, xoff + c0, len).CopyTo(acc);
                for (int i = 1; i < n; i++)
                {
                    var row = new ReadOnlySpan<T>(x, xoff + i * m + c0, len);
                    switch (opv)
                    {
                        case ReduceOp.Sum: TensorPrimitives.Add(acc, row, acc); break;
                        case ReduceOp.Prod: TensorPrimitives.Multiply(acc, row, acc); break;
                        case ReduceOp.Max: TensorPrimitives.Max(acc, row, acc); break;
                        default: TensorPrimitives.Min(acc, row, acc); break;
                    }
                }
            });
        }
    }

    /// <summary>The view with <paramref name="axis"/> moved last, made contiguous, and the permutation used.</summary>
    static (StridedView Rows, int[] Order) AxisLast(StridedView x, int axis)
    {
        var order = Enumerable.Range(0, x.Rank).Where(d => d != axis).Append(axis).ToArray();
        var v = x.Permute(order);
        return (v.IsContiguous ? v : Contiguous(v), order);
    }

    public void ArgReduce(bool max, StridedView x, int axis, StridedView indices)
    {
        var (rows, _) = AxisLast(x, axis);
        int n = x.Shape[axis];
        if (n == 0) throw new ArgumentException($"{(max ? "ArgMax" : "ArgMin")}: cannot reduce an empty dimension");
        DispatchNumeric(x.Storage.DType, new ArgRows(max, rows, n, indices));
    }

    readonly struct ArgRows(bool max, StridedView rows, int n, StridedView indices) : INumericAction
    {
        public void Invoke<T>() where T : unmanaged, INumber<T>
        {
            var x = Cpu(rows).Array<T>();
            var idx = Cpu(indices).Array<long>();
            int xo = (int)rows.Offset, io = (int)indices.Offset, len = n;
            bool isMax = max;
            long count = rows.Numel / n;
            CpuThreading.For(count, rows.Numel, (s, e) =>
            {
                for (long r = s; r < e; r++)
                {
                    var span = new ReadOnlySpan<T>(x, xo + (int)r * len, len);
                    int k = isMax ? TensorPrimitives.IndexOfMax(span) : TensorPrimitives.IndexOfMin(span);
                    idx[io + r] = T.IsZero(span[k]) ? FirstZero(span) : k;
                }
            });
        }

        // TensorPrimitives orders -0 below +0; PyTorch (and the ILGPU kernel) treat them as equal, so a zero extreme
        // is a tie among all the zeros and the first of them is selected.
        static int FirstZero<T>(ReadOnlySpan<T> span) where T : INumber<T>
        {
            for (int i = 0; i < span.Length; i++)
                if (T.IsZero(span[i])) return i;
            return -1;
        }
    }

    public void Cumsum(StridedView x, int axis, StridedView y)
        => AlongAxis(x, axis, y, new CumsumRows());

    public void Softmax(StridedView x, int axis, bool log, StridedView y)
    {
        switch (x.Storage.DType)
        {
            case DType.Float32: AlongAxis(x, axis, y, new SoftmaxRows<float>(log)); break;
            case DType.Float64: AlongAxis(x, axis, y, new SoftmaxRows<double>(log)); break;
            default: throw new NotSupportedException($"Softmax: needs a floating tensor, got {x.Storage.DType.Name()}");
        }
    }

    public void SoftmaxBackward(StridedView y, StridedView grad, bool log, StridedView dx)
    {
        switch (y.Storage.DType)
        {
            case DType.Float32: SoftmaxBackwardRows<float>(y, grad, log, dx); break;
            case DType.Float64: SoftmaxBackwardRows<double>(y, grad, log, dx); break;
            default: throw new NotSupportedException($"SoftmaxBackward: needs a floating tensor, got {y.Storage.DType.Name()}");
        }
    }

    static void SoftmaxBackwardRows<T>(StridedView y, StridedView grad, bool log, StridedView dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (Y, G, D) = (Cpu(y).Array<T>(), Cpu(grad).Array<T>(), Cpu(dx).Array<T>());
        int n = y.Shape[^1];
        long rows = n == 0 ? 0 : y.Numel / n;
        var (yo, go, dO) = ((int)y.Offset, (int)grad.Offset, (int)dx.Offset);
        CpuThreading.For(rows, y.Numel * 4, (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                var yr = new ReadOnlySpan<T>(Y, yo + (int)r * n, n);
                var gr = new ReadOnlySpan<T>(G, go + (int)r * n, n);
                var dr = new Span<T>(D, dO + (int)r * n, n);
                if (log)
                {
                    T sum = TensorPrimitives.Sum(gr);
                    TensorPrimitives.Exp(yr, dr);
                    TensorPrimitives.Multiply(dr, sum, dr);
                    TensorPrimitives.Subtract(gr, dr, dr);
                }
                else
                {
                    T dot = TensorPrimitives.Dot(gr, yr);
                    TensorPrimitives.Subtract(gr, dot, dr);
                    TensorPrimitives.Multiply(dr, yr, dr);
                }
            }
        });
    }

    internal interface IRowTransform { void Apply<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, INumber<T>; }

    // Runs a row transform along one axis; output has x's shape. When the axis is already last and x contiguous,
    // rows go straight into y; otherwise into a temporary laid out axis-last, then scattered back.
    static void AlongAxis<TRows>(StridedView x, int axis, StridedView y, TRows rows) where TRows : struct, IRowTransform
    {
        var (src, order) = AxisLast(x, axis);
        int n = x.Shape[axis];
        bool direct = axis == x.Rank - 1;
        var dst = direct ? y : StridedView.Contiguous(CpuStorage.Allocate(y.Storage.DType, y.Numel, false), src.Shape);
        if (n > 0) DispatchNumeric(x.Storage.DType, new RowTransformAction<TRows>(rows, src, dst, n));
        if (!direct)
        {
            // dst is x permuted; write it back through the same permutation of y.
            var yPermuted = y.Permute(order);
            DispatchAll(y.Storage.DType, new CopyAction(dst, yPermuted));
        }
    }

    readonly struct RowTransformAction<TRows>(TRows rows, StridedView src, StridedView dst, int n) : INumericAction where TRows : struct, IRowTransform
    {
        public void Invoke<T>() where T : unmanaged, INumber<T>
        {
            var x = Cpu(src).Array<T>();
            var y = Cpu(dst).Array<T>();
            int xo = (int)src.Offset, yo = (int)dst.Offset, len = n;
            var r = rows;
            CpuThreading.For(src.Numel / n, src.Numel, (s, e) =>
            {
                for (long i = s; i < e; i++)
                    r.Apply(new ReadOnlySpan<T>(x, xo + (int)i * len, len), new Span<T>(y, yo + (int)i * len, len));
            });
        }
    }

    readonly struct CumsumRows : IRowTransform
    {
        public void Apply<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, INumber<T>
        {
            T acc = T.Zero;
            for (int i = 0; i < x.Length; i++) y[i] = acc += x[i];
        }
    }

    readonly struct SoftmaxRows<TF>(bool log) : IRowTransform where TF : unmanaged, IFloatingPointIeee754<TF>
    {
        public void Apply<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, INumber<T>
        {
            // Only ever instantiated with T == TF; the cast lets the float math constraints apply.
            var xf = System.Runtime.InteropServices.MemoryMarshal.Cast<T, TF>(x);
            var yf = System.Runtime.InteropServices.MemoryMarshal.Cast<T, TF>(y);
            // Subtracting the row max keeps exp from overflowing; the result is unchanged mathematically.
            TF max = TensorPrimitives.Max(xf);
            if (TF.IsInfinity(max) && max < TF.Zero) max = TF.Zero; // all -inf row: avoid -inf - -inf = NaN in the shift
            TensorPrimitives.Subtract(xf, max, yf);
            if (log)
            {
                TF lse = TF.Zero;
                for (int i = 0; i < yf.Length; i++) lse += TF.Exp(yf[i]);
                TensorPrimitives.Subtract(yf, TF.Log(lse), yf);
            }
            else
            {
                TensorPrimitives.Exp(yf, yf);
                TF sum = TensorPrimitives.Sum<TF>(yf);
                TensorPrimitives.Divide(yf, sum, yf);
            }
        }
    }
}
