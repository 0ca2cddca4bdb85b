namespace Engine.Tests;

/// <summary>
/// The slow, obviously-correct oracle: a row-major double[] with a shape, and naive loops for every op.
/// It never calls the engine; tests compare the engine's results against it.
/// </summary>
public sealed class Ref
{
    public Ref(int[] shape, double[] data)
    {
        if (Count(shape) != data.Length) throw new ArgumentException("Ref: shape and data disagree");
        Shape = shape;
        Data = data;
    }

    public int[] Shape { get; }
    public double[] Data { get; }
    public int Rank => Shape.Length;
    public int Numel => Data.Length;

    public static int Count(int[] shape) { int n = 1; foreach (var d in shape) n *= d; return n; }

    public static Ref Zeros(int[] shape) => new(shape, new double[Count(shape)]);

    public static Ref Scalar(double v) => new([], [v]);

    /// <summary>Multi-index of a row-major flat position.</summary>
    public static int[] Unflatten(int[] shape, int flat)
    {
        var idx = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
        return idx;
    }

    public static int Flatten(int[] shape, int[] idx)
    {
        int f = 0;
        for (int d = 0; d < shape.Length; d++) f = f * shape[d] + idx[d];
        return f;
    }

    public double this[params int[] idx] => Data[Flatten(Shape, idx)];

    /// <summary>Builds a tensor of the given shape from a function of the multi-index.</summary>
    public static Ref Build(int[] shape, Func<int[], double> f)
    {
        var data = new double[Count(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = f(Unflatten(shape, i));
        return new Ref(shape, data);
    }

    static int Axis(int axis, int rank) => axis < 0 ? axis + rank : axis;

    // ---- movement ----

    public Ref Permute(params int[] order) => Build(order.Select(o => Shape[o]).ToArray(), idx =>
    {
        var src = new int[Rank];
        for (int i = 0; i < Rank; i++) src[order[i]] = idx[i];
        return this[src];
    });

    public Ref Transpose(int a, int b)
    {
        var order = Enumerable.Range(0, Rank).ToArray();
        a = Axis(a, Rank); b = Axis(b, Rank);
        (order[a], order[b]) = (order[b], order[a]);
        return Permute(order);
    }

    public Ref Reshape(params int[] shape) => new(shape, (double[])Data.Clone());

    /// <summary>Python slice start:end:step (step &gt; 0) of one dimension.</summary>
    public Ref Slice(int dim, int start, int end, int step)
    {
        var shape = (int[])Shape.Clone();
        shape[dim] = end > start ? (end - start + step - 1) / step : 0;
        return Build(shape, idx =>
        {
            var src = (int[])idx.Clone();
            src[dim] = start + idx[dim] * step;
            return this[src];
        });
    }

    /// <summary>The values seen when this tensor is broadcast to <paramref name="shape"/>.</summary>
    public Ref BroadcastTo(int[] shape) => Build(shape, idx => this[SourceIndex(idx, Shape)]);

    static int[] SourceIndex(int[] outIdx, int[] srcShape)
    {
        var src = new int[srcShape.Length];
        int lead = outIdx.Length - srcShape.Length;
        for (int d = 0; d < srcShape.Length; d++) src[d] = srcShape[d] == 1 ? 0 : outIdx[d + lead];
        return src;
    }

    public static int[]? BroadcastShape(int[] a, int[] b)
    {
        int r = Math.Max(a.Length, b.Length);
        var s = new int[r];
        for (int i = 0; i < r; i++)
        {
            int da = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            int db = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            if (da != db && da != 1 && db != 1) return null;
            s[i] = da == 1 ? db : da;
        }
        return s;
    }

    // ---- elementwise ----

    public Ref Map(Func<double, double> f) => new(Shape, Data.Select(f).ToArray());

    public static Ref Zip(Ref a, Ref b, Func<double, double, double> f)
    {
        var shape = BroadcastShape(a.Shape, b.Shape) ?? throw new ArgumentException("Ref.Zip: shapes do not broadcast");
        return Build(shape, idx => f(a[SourceIndex(idx, a.Shape)], b[SourceIndex(idx, b.Shape)]));
    }

    public static Ref Where(Ref c, Ref a, Ref b)
    {
        var shape = BroadcastShape(BroadcastShape(c.Shape, a.Shape)!, b.Shape)!;
        return Build(shape, idx => c[SourceIndex(idx, c.Shape)] != 0 ? a[SourceIndex(idx, a.Shape)] : b[SourceIndex(idx, b.Shape)]);
    }

    // ---- reductions ----

    /// <summary>Applies <paramref name="f"/> to the values of every reduced slice (all axes when none).</summary>
    public Ref Reduce(int[]? axes, bool keepDim, Func<double[], double> f)
    {
        var ax = (axes is null || axes.Length == 0 ? Enumerable.Range(0, Rank) : axes.Select(a => Axis(a, Rank))).ToHashSet();
        var keptShape = Enumerable.Range(0, Rank).Select(d => ax.Contains(d) ? 1 : Shape[d]).ToArray();
        var groups = new List<double>[Count(keptShape)];
        for (int i = 0; i < groups.Length; i++) groups[i] = new List<double>();
        for (int i = 0; i < Numel; i++)
        {
            var idx = Unflatten(Shape, i);
            for (int d = 0; d < Rank; d++) if (ax.Contains(d)) idx[d] = 0;
            groups[Flatten(keptShape, idx)].Add(Data[i]);
        }
        var values = groups.Select(g => f(g.ToArray())).ToArray();
        var shape = keepDim ? keptShape : Enumerable.Range(0, Rank).Where(d => !ax.Contains(d)).Select(d => Shape[d]).ToArray();
        return new Ref(shape, values);
    }

    public static double SumOf(double[] v) { double s = 0; foreach (var x in v) s += x; return s; }
    public static double ProdOf(double[] v) { double p = 1; foreach (var x in v) p *= x; return p; }
    public static double MaxOf(double[] v) => v.Any(double.IsNaN) ? double.NaN : v.Max();
    public static double MinOf(double[] v) => v.Any(double.IsNaN) ? double.NaN : v.Min();
    public static double MeanOf(double[] v) => SumOf(v) / v.Length;
    public static double VarOf(double[] v, bool unbiased)
    {
        double m = MeanOf(v), s = 0;
        foreach (var x in v) s += (x - m) * (x - m);
        return s / Math.Max(v.Length - (unbiased ? 1 : 0), 0);
    }
    public static double LogSumExpOf(double[] v)
    {
        double m = v.Max();
        if (double.IsInfinity(m)) m = 0;
        double s = 0;
        foreach (var x in v) s += Math.Exp(x - m);
        return Math.Log(s) + m;
    }
    public static double ArgMaxOf(double[] v) { int best = 0; for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i; return best; }
    public static double ArgMinOf(double[] v) { int best = 0; for (int i = 1; i < v.Length; i++) if (v[i] < v[best]) best = i; return best; }

    /// <summary>Transforms every 1-D slice along <paramref name="dim"/> with <paramref name="f"/> (same length out).</summary>
    public Ref AlongAxis(int dim, Func<double[], double[]> f)
    {
        dim = Axis(dim, Rank);
        var result = new double[Numel];
        int n = Shape[dim];
        for (int i = 0; i < Numel; i++)
        {
            var idx = Unflatten(Shape, i);
            if (idx[dim] != 0) continue;
            var line = new double[n];
            for (int k = 0; k < n; k++) { idx[dim] = k; line[k] = this[idx]; }
            var outLine = f(line);
            for (int k = 0; k < n; k++) { idx[dim] = k; result[Flatten(Shape, idx)] = outLine[k]; }
        }
        return new Ref(Shape, result);
    }

    public Ref Softmax(int dim) => AlongAxis(dim, v =>
    {
        double m = v.Max();
        var e = v.Select(x => Math.Exp(x - m)).ToArray();
        double s = e.Sum();
        return e.Select(x => x / s).ToArray();
    });

    public Ref LogSoftmax(int dim) => AlongAxis(dim, v =>
    {
        double lse = LogSumExpOf(v);
        return v.Select(x => x - lse).ToArray();
    });

    public Ref Cumsum(int dim) => AlongAxis(dim, v =>
    {
        var r = new double[v.Length];
        double acc = 0;
        for (int i = 0; i < v.Length; i++) r[i] = acc += v[i];
        return r;
    });

    // ---- matmul ----

    /// <summary>torch.matmul: 1-D operands gain and lose a dimension; batch dimensions broadcast.</summary>
    public static Ref MatMul(Ref a, Ref b)
    {
        var a2 = a.Rank == 1 ? a.Reshape(1, a.Shape[0]) : a;
        var b2 = b.Rank == 1 ? b.Reshape(b.Shape[0], 1) : b;
        int m = a2.Shape[^2], k = a2.Shape[^1], n = b2.Shape[^1];
        var batch = BroadcastShape(a2.Shape[..^2], b2.Shape[..^2])!;
        var ea = a2.BroadcastTo([.. batch, m, k]);
        var eb = b2.BroadcastTo([.. batch, k, n]);
        var y = Build([.. batch, m, n], idx =>
        {
            double s = 0;
            var ia = (int[])idx.Clone();
            var ib = (int[])idx.Clone();
            for (int p = 0; p < k; p++)
            {
                ia[^1] = p;
                ib[^2] = p;
                s += ea[ia] * eb[ib];
            }
            return s;
        });
        var shape = y.Shape.ToList();
        if (b.Rank == 1) shape.RemoveAt(shape.Count - 1);
        if (a.Rank == 1) shape.RemoveAt(shape.Count - (b.Rank == 1 ? 1 : 2));
        return y.Reshape([.. shape]);
    }

    // ---- indexing and joining ----

    public static Ref Gather(Ref x, int dim, Ref index) => Build(index.Shape, idx =>
    {
        var src = (int[])idx.Clone();
        src[dim] = (int)index[idx];
        return x[src];
    });

    public static Ref ScatterAdd(Ref x, int dim, Ref index, Ref source)
    {
        var data = (double[])x.Data.Clone();
        for (int i = 0; i < index.Numel; i++)
        {
            var idx = Unflatten(index.Shape, i);
            double v = source[idx];
            idx[dim] = (int)index.Data[i];
            data[Flatten(x.Shape, idx)] += v;
        }
        return new Ref(x.Shape, data);
    }

    public static Ref IndexSelect(Ref x, int dim, int[] index)
    {
        var shape = (int[])x.Shape.Clone();
        shape[dim] = index.Length;
        return Build(shape, idx =>
        {
            var src = (int[])idx.Clone();
            src[dim] = index[idx[dim]];
            return x[src];
        });
    }

    public static Ref Concat(Ref[] parts, int dim)
    {
        var shape = (int[])parts[0].Shape.Clone();
        shape[dim] = parts.Sum(p => p.Shape[dim]);
        return Build(shape, idx =>
        {
            int at = idx[dim];
            foreach (var p in parts)
            {
                if (at < p.Shape[dim])
                {
                    var src = (int[])idx.Clone();
                    src[dim] = at;
                    return p[src];
                }
                at -= p.Shape[dim];
            }
            throw new InvalidOperationException();
        });
    }

    public static Ref Stack(Ref[] parts, int dim)
    {
        var shape = parts[0].Shape.ToList();
        shape.Insert(dim, parts.Length);
        return Build([.. shape], idx =>
        {
            var src = idx.Where((_, d) => d != dim).ToArray();
            return parts[idx[dim]][src];
        });
    }

    /// <summary>torch.nn.functional.pad with a constant: pairs (before, after) from the last dimension; negative crops.</summary>
    public Ref Pad(int[] padding, double value)
    {
        var before = new int[Rank];
        var shape = (int[])Shape.Clone();
        for (int p = 0; p < padding.Length / 2; p++)
        {
            int d = Rank - 1 - p;
            before[d] = padding[2 * p];
            shape[d] += padding[2 * p] + padding[2 * p + 1];
        }
        return Build(shape, idx =>
        {
            var src = new int[Rank];
            for (int d = 0; d < Rank; d++)
            {
                src[d] = idx[d] - before[d];
                if (src[d] < 0 || src[d] >= Shape[d]) return value;
            }
            return this[src];
        });
    }

    public Ref Roll(int shift, int dim) => Build(Shape, idx =>
    {
        int n = Shape[dim];
        var src = (int[])idx.Clone();
        src[dim] = (((idx[dim] - shift) % n) + n) % n;
        return this[src];
    });

    public Ref Flip(params int[] dims) => Build(Shape, idx =>
    {
        var src = (int[])idx.Clone();
        foreach (var d in dims) src[Axis(d, Rank)] = Shape[Axis(d, Rank)] - 1 - idx[Axis(d, Rank)];
        return this[src];
    });

    public Ref Triangle(int diagonal, bool lower) => Build(Shape, idx =>
    {
        int diff = idx[^1] - idx[^2];
        bool keep = lower ? diff <= diagonal : diff >= diagonal;
        return keep ? this[idx] : 0;
    });

    public Ref OneHot(int classes) => Build([.. Shape, classes], idx => this[idx[..^1]] == idx[^1] ? 1 : 0);
}
