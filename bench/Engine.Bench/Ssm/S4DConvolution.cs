using System.Globalization;
using System.Numerics.Tensors;
using System.Text.Json;
using Engine.Autograd;
using Engine.Bench.Gemm;
using Engine.Bench.Training;
using Engine.Nn;

namespace Engine.Bench.Ssm;

/// <summary>
/// The S4D figures of issue 5: the FFT causal convolution (<see cref="S4D.FftConvolution"/>, the fused
/// <see cref="Tensor.CausalConvolution"/>) against the direct O(L^2) convolution at L = 1024 and 4096 (target: >= 10x
/// at 4096), and against the same FFT convolution composed from tensor ops (rfft, complex product, irfft:
/// <see cref="S4D.ComposedFftConvolution"/>), plus the whole S4D layer forward and
/// forward+backward, side by side with the same computations in PyTorch (bench/torch_s4d.py) where torch is available.
/// </summary>
static class S4DConvolution
{
    const int Batch = 1, Channels = 64, StateSize = 64;

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        if (quick) Timing.WarmUpSeconds = 0.05;
        int reps = quick ? 3 : 5;
        double minSeconds = quick ? 0.05 : 0.3;
        int[] lengths = [1024, 4096];
        Console.WriteLine(MachineInfo.Header());
        Console.WriteLine($"S4D: B={Batch}, H={Channels}, N={StateSize}, ZOH; each side at {string.Join(" and ", BestOfThreads.Counts)} thread(s): each cell is the best time and (the thread count that gave it)");

        var torchRuns = BestOfThreads.Counts.Select(t => (Threads: t, Figures: RunTorch(lengths, reps, minSeconds, t))).Where(r => r.Figures is not null).ToList();
        Best? TorchBest(int length, Func<(double Direct, double Fft, double Forward, double Backward), double> pick) =>
            torchRuns.Count == 0 ? null : BestOfThreads.Lowest(torchRuns.Select(r => (r.Threads, pick(r.Figures![length]))));
        Console.WriteLine();
        Console.WriteLine("| L | direct conv | FFT conv | FFT speed-up | composed FFT conv | S4D forward | S4D fwd+bwd | PyTorch direct | PyTorch FFT | PyTorch S4D fwd | PyTorch S4D fwd+bwd | PyTorch / engine: FFT, fwd, fwd+bwd |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        double speedupAtLongest = 0;
        foreach (int length in lengths)
        {
            var gen = new Generator(1);
            var s4d = new S4D(Channels, StateSize, generator: gen);
            var u = Tensor.Randn([Batch, length, Channels], generator: gen);
            var signal = u.Transpose(1, 2).Contiguous();
            Tensor kernel;
            using (Engine.Autograd.Autograd.NoGrad()) kernel = s4d.Kernel(length);

            // The two convolutions must agree before their times mean anything.
            var direct = DirectConvolution(signal, kernel);
            Tensor fft;
            using (Engine.Autograd.Autograd.NoGrad()) fft = S4D.FftConvolution(signal, kernel);
            Tensor composed;
            using (Engine.Autograd.Autograd.NoGrad()) composed = S4D.ComposedFftConvolution(signal, kernel);
            double scale = direct.Abs().Max().Item();
            foreach (var (name, other) in new[] { ("fused FFT", fft), ("composed FFT", composed) })
            {
                double error = (direct - other).Abs().Max().Item();
                if (error > 1e-4 * Math.Max(1, scale)) throw new InvalidOperationException($"{name} and direct convolutions differ by {error:G3} at L={length}");
            }

            Best Time(Action run) => BestOfThreads.Lowest(BestOfThreads.Counts.Select(t => (t, BestOfThreads.WithEngineThreads(t, () => Timing.MedianSeconds(run, reps, minSeconds)))));
            var directS = Time(() => DirectConvolution(signal, kernel));
            var fftS = Time(() => { using (Engine.Autograd.Autograd.NoGrad()) S4D.FftConvolution(signal, kernel); });
            var composedS = Time(() => { using (Engine.Autograd.Autograd.NoGrad()) S4D.ComposedFftConvolution(signal, kernel); });
            var forwardS = Time(() => { using (Engine.Autograd.Autograd.NoGrad()) s4d.Forward(u); });
            var backwardS = Time(() =>
            {
                s4d.ZeroGrad();
                s4d.Forward(u).Square().Mean().Backward();
            });
            if (length == lengths[^1]) speedupAtLongest = directS.Value / fftS.Value;
            var (tDirect, tFft, tForward, tBackward) = (TorchBest(length, f => f.Direct), TorchBest(length, f => f.Fft), TorchBest(length, f => f.Forward), TorchBest(length, f => f.Backward));
            string ratios = tFft is null ? "n/a" : $"{tFft.Value.Value / fftS.Value:F2}x, {tForward!.Value.Value / forwardS.Value:F2}x, {tBackward!.Value.Value / backwardS.Value:F2}x";
            Console.WriteLine($"| {length} | {Ms(directS)} | {Ms(fftS)} | {directS.Value / fftS.Value:F1}x | {Ms(composedS)} | {Ms(forwardS)} | {Ms(backwardS)} | " +
                $"{Ms(tDirect)} | {Ms(tFft)} | {Ms(tForward)} | {Ms(tBackward)} | {ratios} |");
        }
        Console.WriteLine();
        Console.WriteLine($"FFT convolution at L={lengths[^1]}: {speedupAtLongest:F1}x the direct convolution (target >= 10x)");
        return 0;
    }

    static string Ms(Best? seconds) => seconds is { } s ? (s with { Value = s.Value * 1e3 }).Format("F2", " ms") : "n/a";

    /// <summary>y[r, t] = sum_{j &lt;= t} k[r mod H, t - j] u[r, j] for u [B, H, L], k [H, L]: one vectorised dot product per output, rows in parallel.</summary>
    static Tensor DirectConvolution(Tensor signal, Tensor kernel)
    {
        int rows = signal.Size(0) * signal.Size(1), h = kernel.Size(0), length = signal.Size(2);
        var u = signal.Contiguous().ToArray<float>();
        // Reversed kernel rows: y[t] = dot(u[0..t], reversed[L-1-t..L-1]).
        var reversed = kernel.Contiguous().ToArray<float>();
        for (int c = 0; c < h; c++) Array.Reverse(reversed, c * length, length);
        var y = new float[u.Length];
        // Capped like the engine's kernels, so the 1-thread column is one thread.
        Parallel.For(0, rows, new ParallelOptions { MaxDegreeOfParallelism = Engine.Backends.Cpu.CpuThreading.MaxThreads }, r =>
        {
            var ur = u.AsSpan(r * length, length);
            var kr = reversed.AsSpan(r % h * length, length);
            for (int t = 0; t < length; t++) y[r * length + t] = TensorPrimitives.Dot(ur[..(t + 1)], kr[(length - 1 - t)..]);
        });
        return Tensor.FromArray(y, signal.Shape);
    }

    static Dictionary<int, (double Direct, double Fft, double Forward, double Backward)>? RunTorch(int[] lengths, int reps, double minSeconds, int threadCount)
    {
        string? python = TorchSgemm.FindPython();
        string? script = TrainingStep.FindScript("torch_s4d.py");
        if (python is null || script is null)
        {
            Console.WriteLine("PyTorch: not available (no python3 that can `import torch`)");
            return null;
        }
        string threads = threadCount.ToString(CultureInfo.InvariantCulture);
        var env = new Dictionary<string, string> { ["OMP_NUM_THREADS"] = threads, ["OPENBLAS_NUM_THREADS"] = threads };
        var (code, output) = TorchSgemm.Execute(python,
            [script, "--threads", threads, "--lengths", string.Join(",", lengths), "--batch", Batch.ToString(CultureInfo.InvariantCulture),
             "--channels", Channels.ToString(CultureInfo.InvariantCulture), "--state", StateSize.ToString(CultureInfo.InvariantCulture),
             "--reps", reps.ToString(CultureInfo.InvariantCulture), "--min-seconds", minSeconds.ToString(CultureInfo.InvariantCulture)],
            env, TimeSpan.FromMinutes(10));
        if (code != 0)
        {
            Console.WriteLine($"PyTorch: torch_s4d.py exited with {code}: {output}");
            return null;
        }
        using var doc = JsonDocument.Parse(output.Trim().Split('\n').Last());
        return doc.RootElement.GetProperty("results").EnumerateArray().ToDictionary(
            r => r.GetProperty("length").GetInt32(),
            r => (r.GetProperty("direct_s").GetDouble(), r.GetProperty("fft_s").GetDouble(), r.GetProperty("forward_s").GetDouble(), r.GetProperty("backward_s").GetDouble()));
    }
}
