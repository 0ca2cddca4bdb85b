using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

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
        if (typeof(T) == typeof(float))
        {
            LayerNormRowsFloat((float[])(object)X, xo, (float[])(object)W, wo, (float[])(object)B, bo, (float[])(object)Y, yo,
                (float[])(object)M, mo, (float[])(object)R, ro, n, rows, (float)eps);
            return;
        }
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

    /// <summary>
    /// The Float32 rows of <see cref="LayerNormRows{T}"/> in three vector passes per row (sum; centred squares; scale,
    /// weight and bias), the same two-pass statistics and the same rounding of each output step (no fused multiply-add)
    /// as the span form, without its six library calls per row, which cost more than the arithmetic at width 384.
    /// </summary>
    static unsafe void LayerNormRowsFloat(float[] X, int xo, float[] W, int wo, float[] B, int bo, float[] Y, int yo,
        float[] M, int mo, float[] R, int ro, int n, long rows, float eps)
    {
        const int L = 8;
        CpuThreading.For(rows, rows * n * 4, (s, end) =>
        {
            fixed (float* px = X, pw = W, pb = B, py = Y)
            {
                float* w = pw + wo, b = pb + bo;
                for (long r = s; r < end; r++)
                {
                    float* xr = px + xo + r * n, yr = py + yo + r * n;
                    var acc0 = Vector256<float>.Zero;
                    var acc1 = Vector256<float>.Zero;
                    int j = 0;
                    for (; j + 2 * L <= n; j += 2 * L)
                    {
                        acc0 += Vector256.Load(xr + j);
                        acc1 += Vector256.Load(xr + j + L);
                    }
                    for (; j + L <= n; j += L) acc0 += Vector256.Load(xr + j);
                    float sum = Vector256.Sum(acc0 + acc1);
                    for (; j < n; j++) sum += xr[j];
                    float mu = sum / n;

                    var vmu = Vector256.Create(mu);
                    acc0 = acc1 = Vector256<float>.Zero;
                    for (j = 0; j + 2 * L <= n; j += 2 * L)
                    {
                        var d0 = Vector256.Load(xr + j) - vmu;
                        var d1 = Vector256.Load(xr + j + L) - vmu;
                        acc0 += d0 * d0;
                        acc1 += d1 * d1;
                    }
                    for (; j + L <= n; j += L)
                    {
                        var d = Vector256.Load(xr + j) - vmu;
                        acc0 += d * d;
                    }
                    float squares = Vector256.Sum(acc0 + acc1);
                    for (; j < n; j++) squares += (xr[j] - mu) * (xr[j] - mu);
                    float rs = 1f / MathF.Sqrt(squares / n + eps);

                    var vrs = Vector256.Create(rs);
                    for (j = 0; j + L <= n; j += L)
                        ((Vector256.Load(xr + j) - vmu) * vrs * Vector256.Load(w + j) + Vector256.Load(b + j)).Store(yr + j);
                    for (; j < n; j++) yr[j] = (xr[j] - mu) * rs * w[j] + b[j];
                    M[mo + r] = mu;
                    R[ro + r] = rs;
                }
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
