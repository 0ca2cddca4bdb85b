using System.Numerics.Tensors;
using Engine.Backends.Cpu;

namespace Engine.Bench.Gemm;

/// <summary>Times the engine's SGEMM, and the plain vectorised loops that M = 1 must not lose to.</summary>
internal static unsafe class EngineSgemm
{
    public static double Gflops(GemmShape s, int repetitions, double minSeconds)
    {
        var rng = new Random(1);
        float[] a = Random(rng, s.M * s.K), b = Random(rng, s.K * s.N), c = new float[s.M * s.N];
        double seconds;
        fixed (float* pa = a, pb = b, pc = c)
        {
            float* xa = pa, xb = pb, xc = pc;
            seconds = Timing.MedianSeconds(
                () => PackedGemm.Gemm(s.M, s.N, s.K, 1f, xa, s.K, 1, xb, s.N, 1, 0f, xc, s.N, s.Threads), repetitions, minSeconds);
        }
        return s.Flops / seconds / 1e9;
    }

    /// <summary>
    /// y[N] = x[K] W, both layouts of W, single thread: the engine against TensorPrimitives loops
    /// (axpy over the rows of W[K,N]; one dot product per row of W^T[N,K]).
    /// </summary>
    public static (double EngineAxpy, double PlainAxpy, double EngineDot, double PlainDot) MatVec(int n, int k, int repetitions, double minSeconds)
    {
        var rng = new Random(2);
        float[] x = Random(rng, k), w = Random(rng, k * n), y = new float[n];
        double flops = 2.0 * n * k;
        fixed (float* px = x, pw = w, py = y)
        {
            float* xx = px, xw = pw, xy = py;
            double engineAxpy = Timing.MedianSeconds(() => PackedGemm.Gemm(1, n, k, 1f, xx, k, 1, xw, n, 1, 0f, xy, n, 1), repetitions, minSeconds);
            double plainAxpy = Timing.MedianSeconds(() =>
            {
                var yy = new Span<float>(xy, n);
                yy.Clear();
                for (int p = 0; p < k; p++) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(xw + (long)p * n, n), xx[p], yy, yy);
            }, repetitions, minSeconds);
            // Same buffer read as W^T [N,K]: row j of it is column j of the product's B.
            double engineDot = Timing.MedianSeconds(() => PackedGemm.Gemm(1, n, k, 1f, xx, k, 1, xw, 1, k, 0f, xy, n, 1), repetitions, minSeconds);
            double plainDot = Timing.MedianSeconds(() =>
            {
                var xs = new ReadOnlySpan<float>(xx, k);
                for (int j = 0; j < n; j++) xy[j] = TensorPrimitives.Dot(xs, new ReadOnlySpan<float>(xw + (long)j * k, k));
            }, repetitions, minSeconds);
            return (flops / engineAxpy / 1e9, flops / plainAxpy / 1e9, flops / engineDot / 1e9, flops / plainDot / 1e9);
        }
    }

    private static float[] Random(Random rng, int count)
    {
        var data = new float[count];
        for (int i = 0; i < count; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return data;
    }
}
