using System.Numerics;
using System.Numerics.Tensors;

namespace Engine.Backends.Cpu;

// Sums of complex exponentials exp(l w) over l = 0..L-1, row by row, in double precision. The exponentials come in
// blocks of B = 64: exp((l0 + j) w) = exp(l0 w) exp(j w), with exp(j w) for j < B and the block starts exp(l0 w) each
// built by complex products from exp(w) and exp(B w) (a few dozen products, so rounding stays near 1e-14), two
// transcendental evaluations per mode instead of one per element. The inner loops are then plain multiply-adds.
public sealed partial class CpuBackend
{
    const int VandermondeBlock = 64;

    /// <inheritdoc/>
    public void VandermondeProduct(StridedView c, StridedView w, StridedView y)
    {
        switch (y.Storage.DType)
        {
            case DType.Float32: VandermondeRows<float>(c, w, y); break;
            case DType.Float64: VandermondeRows<double>(c, w, y); break;
            default: throw new NotSupportedException($"VandermondeProduct: needs a floating tensor, got {y.Storage.DType.Name()}");
        }
    }

    /// <inheritdoc/>
    public void VandermondeAdjoint(StridedView g, StridedView w, StridedView s0, StridedView s1)
    {
        switch (w.Storage.DType)
        {
            case DType.Float32: VandermondeAdjointRows<float>(g, w, s0, s1); break;
            case DType.Float64: VandermondeAdjointRows<double>(g, w, s0, s1); break;
            default: throw new NotSupportedException($"VandermondeAdjoint: needs a floating tensor, got {w.Storage.DType.Name()}");
        }
    }

    static void VandermondeRows<T>(StridedView c, StridedView w, StridedView y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int length = y.Shape[^1], modes = c.Shape[^2];
        long rows = y.Numel / Math.Max(1, length);
        if (!c.IsContiguous) c = Contiguous(c);
        if (!w.IsContiguous) w = Contiguous(w);
        var (cs, ws, ys) = (Cpu(c).Array<T>(), Cpu(w).Array<T>(), Cpu(y).Array<T>());
        CpuThreading.For(rows, rows * modes * (long)length * 4, (start, end) =>
        {
            var sum = new double[length];
            var (re, im) = (new double[VandermondeBlock], new double[VandermondeBlock]);
            for (long r = start; r < end; r++)
            {
                Array.Clear(sum);
                for (int n = 0; n < modes; n++)
                {
                    long at = 2 * (r * modes + n);
                    double cr = double.CreateTruncating(cs[c.Offset + at]), ci = double.CreateTruncating(cs[c.Offset + at + 1]);
                    var step = (double.CreateTruncating(ws[w.Offset + at]), double.CreateTruncating(ws[w.Offset + at + 1]));
                    // c exp(j w) for j < B, so that y[l0 + j] += Re(exp(l0 w) c exp(j w)).
                    BlockPowers(step, re, im, cr, ci);
                    ForEachBlockStart(step, length, (l0, br, bi) =>
                    {
                        var block = sum.AsSpan(l0, Math.Min(VandermondeBlock, length - l0));
                        TensorPrimitives.MultiplyAdd(re.AsSpan(0, block.Length), br, block, block);
                        TensorPrimitives.MultiplyAdd(im.AsSpan(0, block.Length), -bi, block, block);
                    });
                }
                long yo = y.Offset + r * length;
                for (int l = 0; l < length; l++) ys[yo + l] = T.CreateTruncating(sum[l]);
            }
        });
    }

    static void VandermondeAdjointRows<T>(StridedView g, StridedView w, StridedView s0, StridedView s1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int length = g.Shape[^1], modes = w.Shape[^2];
        long rows = s0.Numel / (2L * modes);
        if (!g.IsContiguous) g = Contiguous(g);
        if (!w.IsContiguous) w = Contiguous(w);
        var (gs, ws, out0, out1) = (Cpu(g).Array<T>(), Cpu(w).Array<T>(), Cpu(s0).Array<T>(), Cpu(s1).Array<T>());
        CpuThreading.For(rows, rows * modes * (long)length * 4, (start, end) =>
        {
            var (gd, lgd) = (new double[length], new double[length]);
            var (re, im) = (new double[VandermondeBlock], new double[VandermondeBlock]);
            for (long r = start; r < end; r++)
            {
                for (int l = 0; l < length; l++)
                {
                    gd[l] = double.CreateTruncating(gs[g.Offset + r * length + l]);
                    lgd[l] = l * gd[l];
                }
                for (int n = 0; n < modes; n++)
                {
                    long at = 2 * (r * modes + n);
                    var step = (double.CreateTruncating(ws[w.Offset + at]), double.CreateTruncating(ws[w.Offset + at + 1]));
                    BlockPowers(step, re, im, 1, 0);
                    // Per block, sum_j g[l0 + j] exp(j w), then times exp(l0 w).
                    double a0 = 0, b0 = 0, a1 = 0, b1 = 0;
                    ForEachBlockStart(step, length, (l0, br, bi) =>
                    {
                        int count = Math.Min(VandermondeBlock, length - l0);
                        Span<double> gBlock = gd.AsSpan(l0, count), lgBlock = lgd.AsSpan(l0, count);
                        Span<double> pr = re.AsSpan(0, count), pi = im.AsSpan(0, count);
                        double t0r = TensorPrimitives.Dot(gBlock, pr), t0i = TensorPrimitives.Dot(gBlock, pi);
                        double t1r = TensorPrimitives.Dot(lgBlock, pr), t1i = TensorPrimitives.Dot(lgBlock, pi);
                        a0 += br * t0r - bi * t0i;
                        b0 += br * t0i + bi * t0r;
                        a1 += br * t1r - bi * t1i;
                        b1 += br * t1i + bi * t1r;
                    });
                    (out0[s0.Offset + at], out0[s0.Offset + at + 1]) = (T.CreateTruncating(a0), T.CreateTruncating(b0));
                    (out1[s1.Offset + at], out1[s1.Offset + at + 1]) = (T.CreateTruncating(a1), T.CreateTruncating(b1));
                }
            }
        });
    }

    // (re, im)[j] = (cr + i ci) exp(j w) for j < B, by repeated products with exp(w).
    static void BlockPowers((double Re, double Im) w, double[] re, double[] im, double cr, double ci)
    {
        var (sin, cos) = Math.SinCos(w.Im);
        double magnitude = Math.Exp(w.Re), er = magnitude * cos, ei = magnitude * sin;
        (re[0], im[0]) = (cr, ci);
        for (int j = 1; j < VandermondeBlock; j++)
        {
            re[j] = re[j - 1] * er - im[j - 1] * ei;
            im[j] = re[j - 1] * ei + im[j - 1] * er;
        }
    }

    // Calls body(l0, Re, Im of exp(l0 w)) for l0 = 0, B, 2B, ... < length, the block starts built by products with exp(B w).
    static void ForEachBlockStart((double Re, double Im) w, int length, Action<int, double, double> body)
    {
        var (sin, cos) = Math.SinCos(w.Im * VandermondeBlock);
        double magnitude = Math.Exp(w.Re * VandermondeBlock), er = magnitude * cos, ei = magnitude * sin;
        double br = 1, bi = 0;
        for (int l0 = 0; l0 < length; l0 += VandermondeBlock)
        {
            body(l0, br, bi);
            (br, bi) = (br * er - bi * ei, br * ei + bi * er);
        }
    }
}
