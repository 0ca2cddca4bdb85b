using System.Numerics;
using System.Numerics.Tensors;

namespace Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public void LayerNorm(StridedView x, StridedView weight, StridedView bias, double eps, StridedView y, StridedView mean, StridedView rstd)
    {
        switch (x.Storage.DType)
        {
            case DType.Float32: LayerNormRows<float>(x, weight, bias, eps, y, mean, rstd); break;
            case DType.Float64: LayerNormRows<double>(x, weight, bias, eps, y, mean, rstd); break;
            default: throw new NotSupportedException($"LayerNorm: needs a floating tensor, got {x.Storage.DType.Name()}");
        }
    }

    static void LayerNormRows<T>(StridedView x, StridedView weight, StridedView bias, double eps, StridedView y, StridedView mean, StridedView rstd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (X, W, B, Y, M, R) = (Cpu(x).Array<T>(), Cpu(weight).Array<T>(), Cpu(bias).Array<T>(), Cpu(y).Array<T>(), Cpu(mean).Array<T>(), Cpu(rstd).Array<T>());
        int n = x.Shape[^1];
        long rows = n == 0 ? 0 : x.Numel / n;
        var (xo, wo, bo, yo, mo, ro) = ((int)x.Offset, (int)weight.Offset, (int)bias.Offset, (int)y.Offset, (int)mean.Offset, (int)rstd.Offset);
        T e = T.CreateTruncating(eps), count = T.CreateTruncating(n);
        CpuThreading.For(rows, x.Numel * 4, (s, end) =>
        {
            for (long r = s; r < end; r++)
            {
                var xr = new ReadOnlySpan<T>(X, xo + (int)r * n, n);
                var yr = new Span<T>(Y, yo + (int)r * n, n);
                // Two passes (mean, then centred squares) as the composite does, for the same accuracy.
                T mu = TensorPrimitives.Sum(xr) / count;
                TensorPrimitives.Subtract(xr, mu, yr);
                T rs = T.One / T.Sqrt(TensorPrimitives.SumOfSquares<T>(yr) / count + e);
                TensorPrimitives.Multiply(yr, rs, yr);
                TensorPrimitives.Multiply(yr, new ReadOnlySpan<T>(W, wo, n), yr);
                TensorPrimitives.Add(yr, new ReadOnlySpan<T>(B, bo, n), yr);
                M[mo + r] = mu;
                R[ro + r] = rs;
            }
        });
    }

    public void LayerNormBackward(StridedView x, StridedView weight, StridedView mean, StridedView rstd, StridedView grad,
        StridedView dx, StridedView dweight, StridedView dbias)
    {
        switch (x.Storage.DType)
        {
            case DType.Float32: LayerNormBackwardRows<float>(x, weight, mean, rstd, grad, dx, dweight, dbias); break;
            case DType.Float64: LayerNormBackwardRows<double>(x, weight, mean, rstd, grad, dx, dweight, dbias); break;
            default: throw new NotSupportedException($"LayerNormBackward: needs a floating tensor, got {x.Storage.DType.Name()}");
        }
    }

    // With xhat = (x - mean) rstd and dxhat = g w: dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),
    // dweight = sum over rows of g xhat, dbias = sum over rows of g (Ba et al. 2016; the standard derivation).
    static void LayerNormBackwardRows<T>(StridedView x, StridedView weight, StridedView mean, StridedView rstd, StridedView grad,
        StridedView dx, StridedView dweight, StridedView dbias) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (X, W, M, R, G) = (Cpu(x).Array<T>(), Cpu(weight).Array<T>(), Cpu(mean).Array<T>(), Cpu(rstd).Array<T>(), Cpu(grad).Array<T>());
        var (DX, DW, DB) = (Cpu(dx).Array<T>(), Cpu(dweight).Array<T>(), Cpu(dbias).Array<T>());
        int n = x.Shape[^1];
        long rows = n == 0 ? 0 : x.Numel / n;
        var (xo, wo, mo, ro, go, dxo, dwo, dbo) = ((int)x.Offset, (int)weight.Offset, (int)mean.Offset, (int)rstd.Offset, (int)grad.Offset, (int)dx.Offset, (int)dweight.Offset, (int)dbias.Offset);
        T count = T.CreateTruncating(n);
        var w = new ReadOnlySpan<T>(W, wo, n);

        // dx rows are independent: parallel. dx's row buffer holds xhat first, then the result.
        CpuThreading.For(rows, x.Numel * 8, (s, end) =>
        {
            var dxhat = new T[n];
            var wspan = new ReadOnlySpan<T>(W, wo, n);
            for (long r = s; r < end; r++)
            {
                var xhat = new Span<T>(DX, dxo + (int)r * n, n);
                TensorPrimitives.Subtract(new ReadOnlySpan<T>(X, xo + (int)r * n, n), M[mo + r], xhat);
                TensorPrimitives.Multiply(xhat, R[ro + r], xhat);
                TensorPrimitives.Multiply(new ReadOnlySpan<T>(G, go + (int)r * n, n), wspan, dxhat);
                T meanD = TensorPrimitives.Sum<T>(dxhat) / count;
                T meanDX = TensorPrimitives.Dot<T>(dxhat, xhat) / count;
                // dx = rstd * (dxhat - meanD - xhat * meanDX)
                TensorPrimitives.Multiply(xhat, -meanDX, xhat);
                TensorPrimitives.Add(xhat, dxhat, xhat);
                TensorPrimitives.Subtract(xhat, meanD, xhat);
                TensorPrimitives.Multiply(xhat, R[ro + r], xhat);
            }
        });

        // Parameter gradients: one pass over rows in order, so the sums never depend on threading.
        var dw = new Span<T>(DW, dwo, n);
        var db = new Span<T>(DB, dbo, n);
        dw.Clear();
        db.Clear();
        var xh = new T[n];
        for (long r = 0; r < rows; r++)
        {
            var g = new ReadOnlySpan<T>(G, go + (int)r * n, n);
            TensorPrimitives.Subtract(new ReadOnlySpan<T>(X, xo + (int)r * n, n), M[mo + r], xh);
            TensorPrimitives.Multiply(xh, R[ro + r], xh);
            TensorPrimitives.MultiplyAdd(g, xh, dw, dw);
            TensorPrimitives.Add(db, g, db);
        }
    }
}
