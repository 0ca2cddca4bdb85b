using Engine.Backends;
using Engine.Recording;

namespace Engine;

// Reductions over one, several or all axes, with keepDim; softmax and cumulative sums.
public sealed partial class Tensor
{
    int[] ReduceAxes(string op, int[]? dims)
    {
        if (dims is null || dims.Length == 0) return Enumerable.Range(0, Rank).ToArray();
        // A 0-d tensor accepts dim 0 or -1 (as PyTorch) and has no axis to reduce.
        if (Rank == 0)
        {
            foreach (var d in dims) Shapes.NormalizeAxis(op, d, 0);
            return [];
        }
        var axes = dims.Select(d => Shapes.NormalizeAxis(op, d, Rank)).Distinct().OrderBy(d => d).ToArray();
        Require(axes.Length == dims.Length, $"{op}: dimension list {Shapes.Format(dims)} repeats a dimension");
        return axes;
    }

    Tensor DropAxes(int[] axes)
    {
        var keep = Enumerable.Range(0, Rank).Where(d => !axes.Contains(d)).ToArray();
        return WithLayout(keep.Select(d => _shape[d]).ToArray(), keep.Select(d => _strides[d]).ToArray(), Offset)
            .Record(OpKind.Reshape, [this], new() { Shape = Shape });
    }

    Tensor ReduceCore(string name, ReduceOp op, int[]? dims, bool keepDim, DType dtype)
    {
        var axes = ReduceAxes(name, dims);
        var x = To(dtype);
        if (op is ReduceOp.Max or ReduceOp.Min)
            foreach (var a in axes)
                Require(_shape[a] > 0, $"{name}: cannot reduce dimension {a} of size 0 in {Shapes.Format(_shape)} (no identity)");
        var outShape = Shape;
        foreach (var a in axes) outShape[a] = 1;
        var result = Empty(outShape, dtype, Backend);
        if (Rank == 0) Backend.Copy(x.Strided, result.Strided);
        else Backend.Reduce(op, x.Strided, axes, result.Strided);
        var kind = op switch { ReduceOp.Sum => OpKind.Sum, ReduceOp.Prod => OpKind.Prod, ReduceOp.Max => OpKind.Amax, _ => OpKind.Amin };
        result.Record(kind, [x], new() { Axes = axes });
        return keepDim ? result : result.DropAxes(axes);
    }

    // Integer and Bool sums and products accumulate in Int64, as in PyTorch.
    DType AccumulateType => DType.IsFloating() ? DType : DType.Int64;

    /// <summary>Sum over the given dimensions (all when none).</summary>
    public Tensor Sum(int[]? dims = null, bool keepDim = false) => ReduceCore("Sum", ReduceOp.Sum, dims, keepDim, AccumulateType);
    /// <summary>Sum over one dimension.</summary>
    public Tensor Sum(int dim, bool keepDim = false) => Sum([dim], keepDim);

    /// <summary>Product over the given dimensions (all when none).</summary>
    public Tensor Prod(int[]? dims = null, bool keepDim = false) => ReduceCore("Prod", ReduceOp.Prod, dims, keepDim, AccumulateType);
    public Tensor Prod(int dim, bool keepDim = false) => Prod([dim], keepDim);

    /// <summary>Mean over the given dimensions (all when none); integer inputs give Float32.</summary>
    public Tensor Mean(int[]? dims = null, bool keepDim = false)
    {
        using var scope = OpScope.Enter("Mean");
        var axes = ReduceAxes("Mean", dims);
        long count = 1;
        foreach (var a in axes) count *= _shape[a];
        return To(DType.ToFloating()).Sum(axes, keepDim).Div(count);
    }

    public Tensor Mean(int dim, bool keepDim = false) => Mean([dim], keepDim);

    /// <summary>Largest value over the given dimensions (all when none), without indices (torch.amax).</summary>
    public Tensor Amax(int[]? dims = null, bool keepDim = false) => ReduceCore("Max", ReduceOp.Max, dims, keepDim, DType);
    /// <summary>Smallest value over the given dimensions (torch.amin).</summary>
    public Tensor Amin(int[]? dims = null, bool keepDim = false) => ReduceCore("Min", ReduceOp.Min, dims, keepDim, DType);

    /// <summary>Largest element of the whole tensor.</summary>
    public Tensor Max() => Amax();
    /// <summary>Smallest element of the whole tensor.</summary>
    public Tensor Min() => Amin();

    /// <summary>Largest values along one dimension and their (first) indices (torch.max(dim)); the gradient goes to those indices.</summary>
    public (Tensor Values, Tensor Indices) Max(int dim, bool keepDim = false) => Selected("Max", max: true, dim, keepDim);
    /// <summary>Smallest values along one dimension and their (first) indices; the gradient goes to those indices.</summary>
    public (Tensor Values, Tensor Indices) Min(int dim, bool keepDim = false) => Selected("Min", max: false, dim, keepDim);

    // torch.max(dim) returns the values gathered at the selected indices, so with ties the whole gradient goes to the
    // selected element (Amax, like torch.amax, splits it evenly among ties instead).
    (Tensor Values, Tensor Indices) Selected(string name, bool max, int dim, bool keepDim)
    {
        using var scope = OpScope.Enter(name);
        if (Rank == 0) return (max ? Amax([dim], keepDim) : Amin([dim], keepDim), ArgReduce("Arg" + name, max, dim, keepDim));
        int d = Shapes.NormalizeAxis(name, dim, Rank);
        Require(_shape[d] > 0, $"{name}: cannot reduce dimension {d} of size 0 in {Shapes.Format(_shape)} (no element to select)");
        var indices = ArgReduce("Arg" + name, max, d, keepDim: true);
        var values = Gather(d, indices);
        return keepDim ? (values, indices) : (values.Squeeze(d), indices.Squeeze(d));
    }

    /// <summary>Int64 index of the first maximum along <paramref name="dim"/>; of the flattened tensor when null.</summary>
    public Tensor ArgMax(int? dim = null, bool keepDim = false) => ArgReduce("ArgMax", true, dim, keepDim);
    /// <summary>Int64 index of the first minimum along <paramref name="dim"/>; of the flattened tensor when null.</summary>
    public Tensor ArgMin(int? dim = null, bool keepDim = false) => ArgReduce("ArgMin", false, dim, keepDim);

    Tensor ArgReduce(string name, bool max, int? dim, bool keepDim)
    {
        if (dim is null)
        {
            var flat = Reshape(-1);
            return flat.ArgReduce(name, max, 0, false);
        }
        int d = Shapes.NormalizeAxis(name, dim.Value, Rank);
        var x = Rank == 0 ? Reshape(1) : this;
        Require(x._shape[d] > 0, $"{name}: cannot reduce dimension {d} of size 0 in {Shapes.Format(_shape)}");
        var outShape = x.Shape;
        outShape[d] = 1;
        var result = Empty(outShape, DType.Int64, Backend);
        Backend.ArgReduce(max, x.Strided, d, result.Strided);
        // Marked on the tensor returned, not the kernel's output, so Backward on it can say why it has no gradient.
        if (Rank == 0) return result.Reshape([]).RecordNonDifferentiable(name, this);
        return (keepDim ? result : result.DropAxes([d])).RecordNonDifferentiable(name, this);
    }

    /// <summary>
    /// Variance over the given dimensions; Bessel-corrected (divides by n - 1) when <paramref name="unbiased"/>.
    /// Exactly 0, with gradient 0, for a constant input.
    /// </summary>
    public Tensor Var(int[]? dims = null, bool unbiased = true, bool keepDim = false)
    {
        using var scope = OpScope.Enter("Var");
        var axes = ReduceAxes("Var", dims);
        long n = 1;
        foreach (var a in axes) n *= _shape[a];
        var x = To(DType.ToFloating());
        // Two passes (mean first) for accuracy: the one-pass E[x^2] - E[x]^2 cancels catastrophically. The values are
        // first shifted by the slice's first element (var is shift-invariant, so the shift is a detached constant):
        // a constant slice then becomes exact zeros, whose mean and deviations are exactly 0, where mean(x) itself
        // need not be representable (0.1 seven times: torch 1.13 gives var 2.2e-34, std 1.5e-17 with gradient 0.15).
        if (n > 0)
        {
            var first = x;
            foreach (var a in axes) first = first.Narrow(a, 0, 1);
            x = x - first.Detach();
        }
        var centered = x - x.Mean(axes, keepDim: true);
        return centered.Square().Sum(axes, keepDim).Div(Math.Max(n - (unbiased ? 1 : 0), 0));
    }

    public Tensor Var(int dim, bool unbiased = true, bool keepDim = false) => Var([dim], unbiased, keepDim);

    /// <summary>Standard deviation: sqrt of <see cref="Var(int[], bool, bool)"/>.</summary>
    public Tensor Std(int[]? dims = null, bool unbiased = true, bool keepDim = false)
    {
        using var scope = OpScope.Enter("Std");
        return Var(dims, unbiased, keepDim).SqrtWithZeroSubgradient();
    }
    public Tensor Std(int dim, bool unbiased = true, bool keepDim = false) => Std([dim], unbiased, keepDim);

    /// <summary>log(sum(exp(x))) over the given dimensions, computed stably by shifting by the maximum.</summary>
    public Tensor LogSumExp(int[]? dims = null, bool keepDim = false)
    {
        using var scope = OpScope.Enter("LogSumExp");
        var axes = ReduceAxes("LogSumExp", dims);
        var x = To(DType.ToFloating());
        var max = x.Amax(axes, keepDim: true);
        // An all -inf slice has max -inf; shift by 0 there so the result is -inf rather than NaN.
        var shift = Where(max.Abs().Eq(double.PositiveInfinity), Scalar(0, max.DType, max.Device), max).Detach(); // the result does not depend on the shift
        var result = (x - shift).Exp().Sum(axes, keepDim: true).Log() + shift;
        return keepDim ? result : result.DropAxes(axes);
    }

    public Tensor LogSumExp(int dim, bool keepDim = false) => LogSumExp([dim], keepDim);

    /// <summary>Vector p-norm over the given dimensions (all when none): p = 1, 2 or infinity.</summary>
    public Tensor Norm(double p = 2, int[]? dims = null, bool keepDim = false)
    {
        using var scope = OpScope.Enter("Norm");
        var x = To(DType.ToFloating());
        return p switch
        {
            1 => x.Abs().Sum(dims, keepDim),
            2 => x.Square().Sum(dims, keepDim).SqrtWithZeroSubgradient(),
            double.PositiveInfinity => x.Abs().Amax(dims, keepDim),
            _ => throw new ArgumentException($"Norm: p must be 1, 2 or infinity, got {p}"),
        };
    }

    // sqrt whose gradient at 0 is 0 rather than inf, so norm(0) and std(constant) have PyTorch's 0 gradient (not
    // inf * 0 = NaN): the "double where" keeps the 0 inputs away from Sqrt's derivative; forward values are unchanged.
    Tensor SqrtWithZeroSubgradient()
    {
        var zero = Eq(0);
        var safe = Where(zero, OnesLike(), this);
        return Where(zero, ZerosLike(), safe.Sqrt());
    }

    /// <summary>Running sum along one dimension (integers accumulate in Int64).</summary>
    public Tensor Cumsum(int dim)
    {
        if (Rank == 0) return To(AccumulateType).Clone();
        int d = Shapes.NormalizeAxis("Cumsum", dim, Rank);
        var x = To(AccumulateType);
        var result = Empty(_shape, x.DType, Backend);
        Backend.Cumsum(x.Strided, d, result.Strided);
        return result.Record(OpKind.Cumsum, [x], new() { Dim = d });
    }

    /// <summary>exp(x) / sum(exp(x)) along one dimension, shifted by the maximum for stability.</summary>
    public Tensor Softmax(int dim) => SoftmaxCore("Softmax", dim, log: false);

    /// <summary>x - logsumexp(x) along one dimension.</summary>
    public Tensor LogSoftmax(int dim) => SoftmaxCore("LogSoftmax", dim, log: true);

    /// <summary>
    /// Gradient of softmax/log-softmax along the last dimension from its output y (this) and the output gradient, in
    /// one kernel, not recorded; used by backward passes that build no graph.
    /// </summary>
    internal Tensor SoftmaxBackward(Tensor grad, bool log)
    {
        var (y, g) = (Contiguous(), grad.Contiguous());
        var result = Empty(_shape, DType, Backend);
        Backend.SoftmaxBackward(y.Strided, g.Strided, log, result.Strided);
        return result;
    }

    Tensor SoftmaxCore(string name, int dim, bool log)
    {
        var x = To(DType.ToFloating());
        if (Rank == 0) x = x.Reshape(1);
        int d = Shapes.NormalizeAxis(name, dim, x.Rank);
        var result = Empty(x._shape, x.DType, Backend);
        Backend.Softmax(x.Strided, d, log, result.Strided);
        result.Record(log ? OpKind.LogSoftmax : OpKind.Softmax, [x], new() { Dim = d });
        return Rank == 0 ? result.Reshape([]) : result;
    }
}
