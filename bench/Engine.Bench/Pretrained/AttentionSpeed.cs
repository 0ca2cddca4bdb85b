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
        LayerProducts(quick);
        return 0;
    }

    /// <summary>
    /// The products of one MiniLM layer at batch 32 (4,096 tokens of width 384), each alone: the question is which of
    /// them runs furthest below the GEMM's peak. Inference (no recording), the weights as a Linear holds them ([out, in], read transposed).
    /// </summary>
    static void LayerProducts(bool quick)
    {
        const int tokens = 32 * 128, width = 384, inner = 1536;
        var g = new Generator(2);
        var x = Tensor.Randn([tokens, width], generator: g);
        var h = Tensor.Randn([tokens, inner], generator: g);
        var (wSquare, wUp, wDown) = (Tensor.Randn([width, width], generator: g), Tensor.Randn([inner, width], generator: g), Tensor.Randn([width, inner], generator: g));
        var (bWidth, bInner) = (Tensor.Randn([width], generator: g), Tensor.Randn([inner], generator: g));
        var cases = new (string Name, double Flops, Func<Tensor> Body)[]
        {
            ("query/key/value/output: x W^T + b, [4096, 384] x [384, 384]", 2.0 * tokens * width * width, () => Tensor.Addmm(bWidth, x, wSquare.MT)),
            ("feed-forward up, no activation: [4096, 384] x [384, 1536]", 2.0 * tokens * width * inner, () => Tensor.Addmm(bInner, x, wUp.MT)),
            ("feed-forward up with GELU (fused epilogue)", 2.0 * tokens * width * inner,
                () => Tensor.TryAddmmGelu(bInner, x, wUp.MT, out var y) ? y : throw new InvalidOperationException("fused GELU declined")),
            ("feed-forward down: [4096, 1536] x [1536, 384]", 2.0 * tokens * inner * width, () => Tensor.Addmm(bWidth, h, wDown.MT)),
        };
        using (Engine.Autograd.Autograd.NoGrad())
            foreach (var (name, flops, body) in cases)
            {
                body();
                var times = new List<double>();
                for (int r = 0; r < (quick ? 5 : 20); r++) times.Add(Time(body));
                double ms = Median(times);
                Console.WriteLine($"{name}: {ms:F2} ms ({flops / ms / 1e6:F1} GFLOP/s)");
            }
    }

    static double Time(Func<Tensor> body)
    {
        var clock = Stopwatch.StartNew();
        body();
        return clock.Elapsed.TotalMilliseconds;
    }

    static double Median(List<double> xs) => xs.Order().ElementAt(xs.Count / 2);
}
