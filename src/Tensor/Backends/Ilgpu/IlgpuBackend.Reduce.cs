using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;
using ILGPU.Runtime;

namespace Engine.Backends.Ilgpu;

// Reductions and row transforms: one thread per output element (or row) walks the reduced elements in order,
// so results are deterministic; group/warp reductions for long rows are a later improvement.
public sealed partial class IlgpuBackend
{
    /// <summary>
    /// Splits views of one shape into the kept dimensions (one thread each, packed with every operand's strides)
    /// and the walked dimensions (x's strides, offset 0).
    /// </summary>
    static (Dims8 Kept, View8[] Views, Dims8 Walked, View8 WalkedX, long Outer, long Inner) Split(int[] shape, int[] walked, params StridedView[] views)
    {
        var kept = Enumerable.Range(0, shape.Length).Where(d => !walked.Contains(d)).ToArray();
        var (keptShape, keptViews) = StridedLayout.Pack(kept.Select(d => shape[d]).ToArray(),
            views.Select(v => (kept.Select(d => v.Strides[d]).ToArray(), v.Offset)).ToArray());
        var (walkedShape, walkedViews) = StridedLayout.Pack(walked.Select(d => shape[d]).ToArray(),
            (walked.Select(d => views[0].Strides[d]).ToArray(), 0L));
        return (keptShape, keptViews, walkedShape, walkedViews[0], keptShape.Product, walkedShape.Product);
    }

    public void Reduce(ReduceOp op, StridedView x, int[] axes, StridedView y)
    {
        if (y.Numel == 0) return;
        // y has x's shape with the reduced axes set to 1, so y's strides over the kept axes address its elements.
        var yFull = new StridedView(y.Storage, x.Shape, y.Strides, y.Offset);
        var split = Split(x.Shape, axes.Distinct().Order().ToArray(), x, yFull);
        if (split.Inner == 0 && op is ReduceOp.Max or ReduceOp.Min)
            throw new ArgumentException($"{op}: cannot reduce an empty dimension (no identity)");
        switch (x.Storage.DType)
        {
            case DType.Float32: ReduceTyped<float, F32>(op, x, y, split); break;
            case DType.Float64: ReduceTyped<double, F64>(op, x, y, split); break;
            case DType.Int32: ReduceTyped<int, I32>(op, x, y, split); break;
            case DType.Int64: ReduceTyped<long, I64>(op, x, y, split); break;
            case DType.Bool: ReduceTyped<byte, B8>(op, x, y, split); break;
        }
    }

    // Reduced runs at least this long get a whole group per output (ILGPU.Algorithms' group reduction) instead of one thread.
    const long GroupReduceMinimum = 64;

    /// <summary>Threads per group of the group-per-row kernels.</summary>
    int ReduceGroupSize => Math.Min(256, Accelerator.MaxNumThreadsPerGroup);

    void ReduceTyped<T, TE>(ReduceOp op, StridedView x, StridedView y, (Dims8 Kept, View8[] Views, Dims8 Walked, View8 WalkedX, long Outer, long Inner) s)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        if (s.Inner >= GroupReduceMinimum && !default(TE).IsInteger && op != ReduceOp.Prod)
        {
            switch (op)
            {
                case ReduceOp.Sum: GroupReduce<T, TE, SumDouble>(x, y, s); break;
                case ReduceOp.Max: GroupReduce<T, TE, MaxDouble>(x, y, s); break;
                default: GroupReduce<T, TE, MinDouble>(x, y, s); break;
            }
            return;
        }
        Action<Index1D, ArrayView<T>, Dims8, View8, Dims8, View8, long, ArrayView<T>, View8, int> k = ReduceKernel<T, TE>;
        Load(k)(Extent(s.Outer), Data<T>(x), s.Kept, s.Views[0], s.Walked, s.WalkedX, s.Inner, Data<T>(y), s.Views[1], (int)op);
    });

    static void ReduceKernel<T, TE>(Index1D j, ArrayView<T> x, Dims8 kn, View8 xk, Dims8 wn, View8 xw, long inner, ArrayView<T> y, View8 yk, int op)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long b = xk.At(j, kn);
        T r;
        if (e.IsInteger)
        {
            long acc = op == (int)ReduceOp.Prod ? 1 : 0;
            for (long i = 0; i < inner; i++)
            {
                long v = e.ToLong(x[b + xw.At(i, wn)]);
                acc = i == 0 && op >= (int)ReduceOp.Max ? v
                    : op == (int)ReduceOp.Sum ? acc + v
                    : op == (int)ReduceOp.Prod ? acc * v
                    : op == (int)ReduceOp.Max ? (v > acc ? v : acc)
                    : (v < acc ? v : acc);
            }
            r = e.FromLong(acc);
        }
        else
        {
            // Accumulates in double: at least as accurate as the CPU's float sums, equal within rounding.
            double acc = op == (int)ReduceOp.Prod ? 1 : 0;
            for (long i = 0; i < inner; i++)
            {
                double v = e.ToDouble(x[b + xw.At(i, wn)]);
                acc = i == 0 && op >= (int)ReduceOp.Max ? v
                    : op == (int)ReduceOp.Sum ? acc + v
                    : op == (int)ReduceOp.Prod ? acc * v
                    : double.IsNaN(acc) || double.IsNaN(v) ? acc + v
                    : op == (int)ReduceOp.Max ? (v > acc ? v : acc)
                    : (v < acc ? v : acc);
            }
            r = e.FromDouble(acc);
        }
        y[yk.At(j, kn)] = r;
    }

    void GroupReduce<T, TE, TOp>(StridedView x, StridedView y, (Dims8 Kept, View8[] Views, Dims8 Walked, View8 WalkedX, long Outer, long Inner) s)
        where T : unmanaged where TE : struct, IElement<T> where TOp : struct, IScanReduceOperation<double>
    {
        Action<ArrayView<T>, Dims8, View8, Dims8, View8, long, ArrayView<T>, View8> method = GroupReduceKernel<T, TE, TOp>;
        var kernel = (Action<KernelConfig, ArrayView<T>, Dims8, View8, Dims8, View8, long, ArrayView<T>, View8>)_kernels.GetOrAdd(method.Method,
            _ => Accelerator.LoadStreamKernel(method));
        kernel(new KernelConfig(Extent(s.Outer), ReduceGroupSize), Data<T>(x), s.Kept, s.Views[0], s.Walked, s.WalkedX, s.Inner, Data<T>(y), s.Views[1]);
    }

    // One group per output element: each thread folds a strided share of the run, then the group combines the
    // partial results in a fixed tree (deterministic), in double.
    static void GroupReduceKernel<T, TE, TOp>(ArrayView<T> x, Dims8 kn, View8 xk, Dims8 wn, View8 xw, long inner, ArrayView<T> y, View8 yk)
        where T : unmanaged where TE : struct, IElement<T> where TOp : struct, IScanReduceOperation<double>
    {
        TE e = default;
        TOp op = default;
        long j = Grid.IdxX;
        long b = xk.At(j, kn);
        double acc = op.Identity;
        for (long i = Group.IdxX; i < inner; i += Group.DimX) acc = op.Apply(acc, e.ToDouble(x[b + xw.At(i, wn)]));
        double total = GroupExtensions.Reduce<double, TOp>(acc);
        if (Group.IsFirstThread) y[yk.At(j, kn)] = e.FromDouble(total);
    }

    public void ArgReduce(bool max, StridedView x, int axis, StridedView indices)
    {
        int n = x.Shape[axis];
        if (n == 0) throw new ArgumentException($"{(max ? "ArgMax" : "ArgMin")}: cannot reduce an empty dimension");
        if (indices.Numel == 0) return;
        var iFull = new StridedView(indices.Storage, x.Shape, indices.Strides, indices.Offset);
        var s = Split(x.Shape, [axis], x, iFull);
        switch (x.Storage.DType)
        {
            case DType.Float32: ArgTyped<float, F32>(max, x, axis, indices, s.Kept, s.Views, s.Outer); break;
            case DType.Float64: ArgTyped<double, F64>(max, x, axis, indices, s.Kept, s.Views, s.Outer); break;
            case DType.Int32: ArgTyped<int, I32>(max, x, axis, indices, s.Kept, s.Views, s.Outer); break;
            case DType.Int64: ArgTyped<long, I64>(max, x, axis, indices, s.Kept, s.Views, s.Outer); break;
            case DType.Bool: ArgTyped<byte, B8>(max, x, axis, indices, s.Kept, s.Views, s.Outer); break;
        }
    }

    void ArgTyped<T, TE>(bool max, StridedView x, int axis, StridedView indices, Dims8 kept, View8[] views, long outer)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, ArrayView<T>, Dims8, View8, long, int, ArrayView<long>, View8, int> k = ArgKernel<T, TE>;
        Load(k)(Extent(outer), Data<T>(x), kept, views[0], x.Strides[axis], x.Shape[axis], Data<long>(indices), views[1], max ? 1 : 0);
    });

    // The first extreme wins ties; a NaN wins outright (its first occurrence), as TensorPrimitives.IndexOfMax does.
    static void ArgKernel<T, TE>(Index1D j, ArrayView<T> x, Dims8 kn, View8 xk, long stride, int n, ArrayView<long> idx, View8 ik, int max)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long b = xk.At(j, kn);
        long best = 0;
        double bestValue = e.ToDouble(x[b]);
        bool integer = e.IsInteger;
        if (!(double.IsNaN(bestValue)))
        {
            long bestLong = e.ToLong(x[b]);
            for (int i = 1; i < n; i++)
            {
                T t = x[b + i * stride];
                if (integer)
                {
                    long v = e.ToLong(t);
                    if (max != 0 ? v > bestLong : v < bestLong) { bestLong = v; best = i; }
                }
                else
                {
                    double v = e.ToDouble(t);
                    if (double.IsNaN(v)) { best = i; break; }
                    if (max != 0 ? v > bestValue : v < bestValue) { bestValue = v; best = i; }
                }
            }
        }
        idx[ik.At(j, kn)] = best;
    }

    public void Cumsum(StridedView x, int axis, StridedView y)
    {
        if (y.Numel == 0) return;
        var s = Split(x.Shape, [axis], x, y);
        switch (x.Storage.DType)
        {
            case DType.Float32: CumsumTyped<float, F32>(x, axis, y, s.Kept, s.Views, s.Outer); break;
            case DType.Float64: CumsumTyped<double, F64>(x, axis, y, s.Kept, s.Views, s.Outer); break;
            case DType.Int32: CumsumTyped<int, I32>(x, axis, y, s.Kept, s.Views, s.Outer); break;
            case DType.Int64: CumsumTyped<long, I64>(x, axis, y, s.Kept, s.Views, s.Outer); break;
            case DType.Bool: CumsumTyped<byte, B8>(x, axis, y, s.Kept, s.Views, s.Outer); break;
        }
    }

    void CumsumTyped<T, TE>(StridedView x, int axis, StridedView y, Dims8 kept, View8[] views, long outer)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, ArrayView<T>, Dims8, View8, long, int, ArrayView<T>, View8, long> k = CumsumKernel<T, TE>;
        Load(k)(Extent(outer), Data<T>(x), kept, views[0], x.Strides[axis], x.Shape[axis], Data<T>(y), views[1], y.Strides[axis]);
    });

    // The running sum is rounded to T after every step, so floats match the CPU's sequential float sum exactly.
    static void CumsumKernel<T, TE>(Index1D j, ArrayView<T> x, Dims8 kn, View8 xk, long xs, int n, ArrayView<T> y, View8 yk, long ys)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long bx = xk.At(j, kn), by = yk.At(j, kn);
        T acc = e.FromLong(0);
        for (int i = 0; i < n; i++)
        {
            acc = e.IsInteger ? e.FromLong(e.ToLong(acc) + e.ToLong(x[bx + i * xs])) : e.FromDouble(e.ToDouble(acc) + e.ToDouble(x[bx + i * xs]));
            y[by + i * ys] = acc;
        }
    }

    public void Softmax(StridedView x, int axis, bool log, StridedView y)
    {
        if (!x.Storage.DType.IsFloating()) throw new NotSupportedException($"Softmax: needs a floating tensor, got {x.Storage.DType.Name()}");
        if (y.Numel == 0) return;
        var s = Split(x.Shape, [axis], x, y);
        if (x.Storage.DType == DType.Float32) SoftmaxTyped<float, F32>(x, axis, log, y, s.Kept, s.Views, s.Outer);
        else SoftmaxTyped<double, F64>(x, axis, log, y, s.Kept, s.Views, s.Outer);
    }

    void SoftmaxTyped<T, TE>(StridedView x, int axis, bool log, StridedView y, Dims8 kept, View8[] views, long outer)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        if (x.Shape[axis] >= GroupReduceMinimum)
        {
            Action<ArrayView<T>, Dims8, View8, long, int, ArrayView<T>, View8, long, int> method = GroupSoftmaxKernel<T, TE>;
            var kernel = (Action<KernelConfig, ArrayView<T>, Dims8, View8, long, int, ArrayView<T>, View8, long, int>)_kernels.GetOrAdd(method.Method,
                _ => Accelerator.LoadStreamKernel(method));
            kernel(new KernelConfig(Extent(outer), ReduceGroupSize), Data<T>(x), kept, views[0], x.Strides[axis], x.Shape[axis], Data<T>(y), views[1], y.Strides[axis], log ? 1 : 0);
            return;
        }
        Action<Index1D, ArrayView<T>, Dims8, View8, long, int, ArrayView<T>, View8, long, int> k = SoftmaxKernel<T, TE>;
        Load(k)(Extent(outer), Data<T>(x), kept, views[0], x.Strides[axis], x.Shape[axis], Data<T>(y), views[1], y.Strides[axis], log ? 1 : 0);
    });

    // One fused pass per row: max, sum of shifted exponentials, then the normalised outputs.
    static void SoftmaxKernel<T, TE>(Index1D j, ArrayView<T> x, Dims8 kn, View8 xk, long xs, int n, ArrayView<T> y, View8 yk, long ys, int log)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long bx = xk.At(j, kn), by = yk.At(j, kn);
        double max = double.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            double v = e.ToDouble(x[bx + i * xs]);
            if (v > max || double.IsNaN(v)) max = v;
        }
        if (double.IsNegativeInfinity(max)) max = 0; // all -inf row: avoid -inf - -inf = NaN in the shift
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.Exp(e.ToDouble(x[bx + i * xs]) - max);
        double lse = Math.Log(sum);
        for (int i = 0; i < n; i++)
        {
            double shifted = e.ToDouble(x[bx + i * xs]) - max;
            y[by + i * ys] = e.FromDouble(log != 0 ? shifted - lse : Math.Exp(shifted) / sum);
        }
    }

    // The same three passes with a group per row: each pass is a strided share per thread and a group all-reduce.
    static void GroupSoftmaxKernel<T, TE>(ArrayView<T> x, Dims8 kn, View8 xk, long xs, int n, ArrayView<T> y, View8 yk, long ys, int log)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        MaxDouble maxOp = default;
        long j = Grid.IdxX;
        long bx = xk.At(j, kn), by = yk.At(j, kn);
        double local = double.NegativeInfinity;
        for (int i = Group.IdxX; i < n; i += Group.DimX) local = maxOp.Apply(local, e.ToDouble(x[bx + i * xs]));
        double max = GroupExtensions.AllReduce<double, MaxDouble>(local);
        if (double.IsNegativeInfinity(max)) max = 0; // all -inf row: avoid -inf - -inf = NaN in the shift
        double part = 0;
        for (int i = Group.IdxX; i < n; i += Group.DimX) part += Math.Exp(e.ToDouble(x[bx + i * xs]) - max);
        double sum = GroupExtensions.AllReduce<double, SumDouble>(part);
        double lse = Math.Log(sum);
        for (int i = Group.IdxX; i < n; i += Group.DimX)
        {
            double shifted = e.ToDouble(x[bx + i * xs]) - max;
            y[by + i * ys] = e.FromDouble(log != 0 ? shifted - lse : Math.Exp(shifted) / sum);
        }
    }

    public void SoftmaxBackward(StridedView y, StridedView grad, bool log, StridedView dx)
    {
        if (!y.Storage.DType.IsFloating()) throw new NotSupportedException($"SoftmaxBackward: needs a floating tensor, got {y.Storage.DType.Name()}");
        int n = y.Shape[^1];
        if (y.Numel == 0 || n == 0) return;
        if (y.Storage.DType == DType.Float32) SoftmaxBackwardTyped<float, F32>(y, grad, log, dx, n);
        else SoftmaxBackwardTyped<double, F64>(y, grad, log, dx, n);
    }

    void SoftmaxBackwardTyped<T, TE>(StridedView y, StridedView grad, bool log, StridedView dx, int n)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int> k = SoftmaxBackwardKernel<T, TE>;
        Load(k)(Extent(y.Numel / n), DataAt<T>(y), DataAt<T>(grad), DataAt<T>(dx), n, log ? 1 : 0);
    });

    // y (g - sum(g y)) for softmax, g - exp(y) sum(g) for log-softmax; one thread per row.
    static void SoftmaxBackwardKernel<T, TE>(Index1D r, ArrayView<T> y, ArrayView<T> g, ArrayView<T> dx, int n, int log)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long b = (long)(int)r * n;
        double s = 0;
        for (int i = 0; i < n; i++) s += log != 0 ? e.ToDouble(g[b + i]) : e.ToDouble(g[b + i]) * e.ToDouble(y[b + i]);
        for (int i = 0; i < n; i++)
        {
            double yi = e.ToDouble(y[b + i]), gi = e.ToDouble(g[b + i]);
            dx[b + i] = e.FromDouble(log != 0 ? gi - Math.Exp(yi) * s : yi * (gi - s));
        }
    }
}
