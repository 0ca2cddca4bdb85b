using System.Diagnostics;
using Engine.Bench.Gemm;
using Engine.Recording;

namespace Engine.Bench.Pretrained;

/// <summary>
/// Inference attention at MiniLM's shapes (12 heads of 32, length 128): the fused kernel
/// (<see cref="Tensor.TryFusedAttention"/>) against the same math composed from batched products, a scale, a mask
/// add and a softmax. The two run alternately, so load from other processes falls on both alike.
/// </summary>
static class AttentionSpeed
{
    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        Console.WriteLine(MachineInfo.Header());
        const int heads = 12, length = 128, headDim = 32;
        foreach (int batch in new[] { 1, 32 })
        {
            var g = new Generator(1);
            var q = Tensor.Randn([batch, length, heads, headDim], generator: g).Transpose(1, 2);
            var k = Tensor.Randn([batch, length, heads, headDim], generator: g).Transpose(1, 2);
            var v = Tensor.Randn([batch, length, heads, headDim], generator: g).Transpose(1, 2);
            var mask = Tensor.Zeros([batch, length], DType.Bool);
            Tensor Composed()
            {
                var scores = (q * (1 / Math.Sqrt(headDim))).MatMul(k.MT) + Tensor.Where(mask, double.NegativeInfinity, 0.0).Reshape(batch, 1, 1, length);
                return scores.Softmax(-1).MatMul(v).Transpose(1, 2).Reshape(batch, length, heads * headDim);
            }
            Tensor Fused()
            {
                using (Engine.Autograd.Autograd.NoGrad())
                    return Tensor.TryFusedAttention(q, k, v, false, 0, mask, out var y) ? y : throw new InvalidOperationException("fused attention declined");
            }
            double flops = 4.0 * batch * heads * length * length * headDim;
            var (composed, fused) = (new List<double>(), new List<double>());
            int rounds = quick ? 5 : 30;
            Composed(); Fused();
            for (int r = 0; r < rounds; r++)
            {
                composed.Add(Time(Composed));
                fused.Add(Time(Fused));
            }
            double c = Median(composed), f = Median(fused);
            Console.WriteLine($"batch {batch}: composed {c:F2} ms ({flops / c / 1e6:F1} GFLOP/s), fused {f:F2} ms ({flops / f / 1e6:F1} GFLOP/s), {c / f:F2}x");
        }
        return 0;
    }

    static double Time(Func<Tensor> body)
    {
        var clock = Stopwatch.StartNew();
        body();
        return clock.Elapsed.TotalMilliseconds;
    }

    static double Median(List<double> xs) => xs.Order().ElementAt(xs.Count / 2);
}
