using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Engine.Backends.Ilgpu;

/// <summary>Adam/AdamW hyper-parameters of one step, passed to the kernel as one value.</summary>
public struct AdamParameters
{
    /// <summary>Moment decay rates and the denominator's epsilon.</summary>
    public double Beta1, Beta2, Eps;
    /// <summary>Learning rate over the first moment's bias correction.</summary>
    public double StepSize;
    /// <summary>1 / (second moment's bias correction).</summary>
    public double InverseC2;
    /// <summary>1 - lr * weight decay (AdamW's decoupled decay; 1 for Adam).</summary>
    public double Keep;
}

// Fused row kernels: layer norm forward and backward, and the Adam update.
public sealed partial class IlgpuBackend
{
    public void LayerNorm(StridedView x, StridedView weight, StridedView bias, double eps, StridedView y, StridedView mean, StridedView rstd)
    {
        int n = x.Shape[^1];
        if (!x.Storage.DType.IsFloating()) throw new NotSupportedException($"LayerNorm: needs a floating tensor, got {x.Storage.DType.Name()}");
        if (n == 0 || x.Numel == 0) return;
        if (x.Storage.DType == DType.Float32) LayerNormTyped<float, F32>(x, weight, bias, eps, y, mean, rstd, n);
        else LayerNormTyped<double, F64>(x, weight, bias, eps, y, mean, rstd, n);
    }

    void LayerNormTyped<T, TE>(StridedView x, StridedView w, StridedView b, double eps, StridedView y, StridedView mean, StridedView rstd, int n)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        if (n >= GroupReduceMinimum)
        {
            Action<ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, double> method = GroupLayerNormKernel<T, TE>;
            var kernel = (Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, double>)_kernels.GetOrAdd(method.Method,
                _ => Accelerator.LoadStreamKernel(method));
            kernel(new KernelConfig(Extent(x.Numel / n), ReduceGroupSize), DataAt<T>(x), DataAt<T>(w), DataAt<T>(b), DataAt<T>(y), DataAt<T>(mean), DataAt<T>(rstd), n, eps);
            return;
        }
        Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, double> k = LayerNormKernel<T, TE>;
        Load(k)(Extent(x.Numel / n), DataAt<T>(x), DataAt<T>(w), DataAt<T>(b), DataAt<T>(y), DataAt<T>(mean), DataAt<T>(rstd), n, eps);
    });

    // One thread per row; two passes (mean, then centred squares) as the composite does, for the same accuracy.
    static void LayerNormKernel<T, TE>(Index1D r, ArrayView<T> x, ArrayView<T> w, ArrayView<T> b, ArrayView<T> y, ArrayView<T> mean, ArrayView<T> rstd, int n, double eps)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long o = (long)(int)r * n;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += e.ToDouble(x[o + i]);
        double mu = sum / n, sq = 0;
        for (int i = 0; i < n; i++)
        {
            double c = e.ToDouble(x[o + i]) - mu;
            sq += c * c;
        }
        double rs = 1 / Math.Sqrt(sq / n + eps);
        for (int i = 0; i < n; i++)
            y[o + i] = e.FromDouble((e.ToDouble(x[o + i]) - mu) * rs * e.ToDouble(w[i]) + e.ToDouble(b[i]));
        mean[r] = e.FromDouble(mu);
        rstd[r] = e.FromDouble(rs);
    }

    // The same two passes with a group per row (rows of 64+ elements): strided shares and group all-reduces.
    static void GroupLayerNormKernel<T, TE>(ArrayView<T> x, ArrayView<T> w, ArrayView<T> b, ArrayView<T> y, ArrayView<T> mean, ArrayView<T> rstd, int n, double eps)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long r = Grid.IdxX;
        long o = r * n;
        double part = 0;
        for (int i = Group.IdxX; i < n; i += Group.DimX) part += e.ToDouble(x[o + i]);
        double mu = GroupExtensions.AllReduce<double, SumDouble>(part) / n;
        double squares = 0;
        for (int i = Group.IdxX; i < n; i += Group.DimX)
        {
            double c = e.ToDouble(x[o + i]) - mu;
            squares += c * c;
        }
        double rs = 1 / Math.Sqrt(GroupExtensions.AllReduce<double, SumDouble>(squares) / n + eps);
        for (int i = Group.IdxX; i < n; i += Group.DimX)
            y[o + i] = e.FromDouble((e.ToDouble(x[o + i]) - mu) * rs * e.ToDouble(w[i]) + e.ToDouble(b[i]));
        if (Group.IsFirstThread)
        {
            mean[r] = e.FromDouble(mu);
            rstd[r] = e.FromDouble(rs);
        }
    }

    public void LayerNormBackward(StridedView x, StridedView weight, StridedView mean, StridedView rstd, StridedView grad,
        StridedView dx, StridedView dweight, StridedView dbias)
    {
        int n = x.Shape[^1];
        if (!x.Storage.DType.IsFloating()) throw new NotSupportedException($"LayerNormBackward: needs a floating tensor, got {x.Storage.DType.Name()}");
        if (n == 0) return;
        if (x.Storage.DType == DType.Float32) LayerNormBackwardTyped<float, F32>(x, weight, mean, rstd, grad, dx, dweight, dbias, n);
        else LayerNormBackwardTyped<double, F64>(x, weight, mean, rstd, grad, dx, dweight, dbias, n);
    }

    void LayerNormBackwardTyped<T, TE>(StridedView x, StridedView w, StridedView mean, StridedView rstd, StridedView g,
        StridedView dx, StridedView dw, StridedView db, int n) where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        long rows = x.Numel / n;
        if (rows > 0)
        {
            Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int> k = LayerNormDxKernel<T, TE>;
            Load(k)(Extent(rows), DataAt<T>(x), DataAt<T>(w), DataAt<T>(mean), DataAt<T>(rstd), DataAt<T>(g), DataAt<T>(dx), n);
        }
        Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, long> p = LayerNormParamKernel<T, TE>;
        Load(p)(n, DataAt<T>(x), DataAt<T>(mean), DataAt<T>(rstd), DataAt<T>(g), DataAt<T>(dw), DataAt<T>(db), n, rows);
    });

    // With xhat = (x - mean) rstd and dxhat = g w: dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
    // (Ba et al. 2016; the standard derivation). One thread per row.
    static void LayerNormDxKernel<T, TE>(Index1D r, ArrayView<T> x, ArrayView<T> w, ArrayView<T> mean, ArrayView<T> rstd, ArrayView<T> g, ArrayView<T> dx, int n)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long o = (long)(int)r * n;
        double mu = e.ToDouble(mean[r]), rs = e.ToDouble(rstd[r]);
        double sumD = 0, sumDX = 0;
        for (int i = 0; i < n; i++)
        {
            double xhat = (e.ToDouble(x[o + i]) - mu) * rs, dxhat = e.ToDouble(g[o + i]) * e.ToDouble(w[i]);
            sumD += dxhat;
            sumDX += dxhat * xhat;
        }
        double meanD = sumD / n, meanDX = sumDX / n;
        for (int i = 0; i < n; i++)
        {
            double xhat = (e.ToDouble(x[o + i]) - mu) * rs, dxhat = e.ToDouble(g[o + i]) * e.ToDouble(w[i]);
            dx[o + i] = e.FromDouble(rs * (dxhat - meanD - xhat * meanDX));
        }
    }

    // dweight = sum over rows of g xhat, dbias = sum over rows of g: one thread per column, rows in order.
    static void LayerNormParamKernel<T, TE>(Index1D c, ArrayView<T> x, ArrayView<T> mean, ArrayView<T> rstd, ArrayView<T> g, ArrayView<T> dw, ArrayView<T> db, int n, long rows)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        double sw = 0, sb = 0;
        for (long r = 0; r < rows; r++)
        {
            double gi = e.ToDouble(g[r * n + c]);
            sw += gi * (e.ToDouble(x[r * n + c]) - e.ToDouble(mean[r])) * e.ToDouble(rstd[r]);
            sb += gi;
        }
        dw[c] = e.FromDouble(sw);
        db[c] = e.FromDouble(sb);
    }

    public void AdamStep(StridedView p, StridedView g, StridedView m, StridedView v, double beta1, double beta2, double eps, double stepSize, double c2, double decay)
    {
        if (!p.Storage.DType.IsFloating()) throw new NotSupportedException($"AdamStep: needs floating parameters, got {p.Storage.DType.Name()}");
        if (p.Numel == 0) return;
        var h = new AdamParameters { Beta1 = beta1, Beta2 = beta2, Eps = eps, StepSize = stepSize, InverseC2 = 1 / c2, Keep = 1 - decay };
        if (p.Storage.DType == DType.Float32) AdamTyped<float, F32>(p, g, m, v, h);
        else AdamTyped<double, F64>(p, g, m, v, h);
    }

    void AdamTyped<T, TE>(StridedView p, StridedView g, StridedView m, StridedView v, AdamParameters h)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, AdamParameters> k = AdamKernel<T, TE>;
        Load(k)(Extent(p.Numel), DataAt<T>(p), DataAt<T>(g), DataAt<T>(m), DataAt<T>(v), h);
    });

    // m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, p = p (1 - decay) - stepSize m / (sqrt(v / c2) + eps), in place.
    static void AdamKernel<T, TE>(Index1D i, ArrayView<T> p, ArrayView<T> g, ArrayView<T> m, ArrayView<T> v, AdamParameters h)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        double gi = e.ToDouble(g[i]);
        T mi = e.FromDouble(h.Beta1 * e.ToDouble(m[i]) + (1 - h.Beta1) * gi);
        T vi = e.FromDouble(h.Beta2 * e.ToDouble(v[i]) + (1 - h.Beta2) * gi * gi);
        m[i] = mi;
        v[i] = vi;
        p[i] = e.FromDouble(h.Keep * e.ToDouble(p[i]) - h.StepSize * e.ToDouble(mi) / (Math.Sqrt(e.ToDouble(vi) * h.InverseC2) + h.Eps));
    }
}
