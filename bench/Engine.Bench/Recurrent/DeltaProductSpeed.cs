using System.Globalization;
using System.Text.Json;
using Engine.Autograd;
using Engine.Bench.Gemm;
using Engine.Bench.Training;
using Engine.Nn;

namespace Engine.Bench.Recurrent;

/// <summary>
/// The DeltaProduct figure of issue 5: forward + backward of the chunk-parallel form (WY / UT transform) against
/// the naive token-by-token recurrence at T = 1024 (target >= 5x), on the same weights and input; and the same two
/// forms of the same layer in PyTorch (bench/torch_deltaproduct.py).
/// </summary>
static class DeltaProductSpeed
{
    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        if (quick) Timing.WarmUpSeconds = 0.05;
        int reps = quick ? 1 : 3;
        int length = quick ? 128 : 1024;
        Console.WriteLine(MachineInfo.Header());
        Console.WriteLine($"DeltaProduct: B=2, C=128, 4 heads, n_h=2, beta in [0,2], chunk 64, T={length}; forward + backward; each side at {string.Join(" and ", BestOfThreads.Counts)} thread(s), best taken");
        var x = Tensor.Randn([2, length, 128], generator: new Generator(2));
        double Time(DeltaRuleMode mode)
        {
            var layer = new DeltaProduct(new DeltaProductOptions(128, 4, Householder: 2, NegativeEigenvalues: true, Mode: mode, ChunkSize: 64), new Generator(1));
            return Timing.MedianSeconds(() =>
            {
                layer.ZeroGrad();
                layer.Forward(x).Square().Mean().Backward();
            }, reps, 0.0);
        }
        Best EngineBest(DeltaRuleMode mode) => BestOfThreads.Lowest(BestOfThreads.Counts.Select(t => (t, BestOfThreads.WithEngineThreads(t, () => Time(mode)))));
        var chunked = EngineBest(DeltaRuleMode.Chunked);
        var recurrent = EngineBest(DeltaRuleMode.Recurrent);
        var torchRuns = BestOfThreads.Counts.Select(t => (Threads: t, Ms: RunTorch(length, t))).Where(r => r.Ms is not null).ToList();
        Best? TorchBest(string key) => torchRuns.Count == 0 ? null : BestOfThreads.Lowest(torchRuns.Select(r => (r.Threads, r.Ms![key] / 1e3)));
        string Ms(Best? b) => b is { } v ? (v with { Value = v.Value * 1e3 }).Format("F0", " ms") : "n/a";
        string Ratio(Best e, Best? t) => t is { } tv ? $"{tv.Value / e.Value:F2}x" : "n/a";
        var (torchRecurrent, torchChunked) = (TorchBest("recurrent_ms"), TorchBest("chunked_ms"));
        Console.WriteLine();
        Console.WriteLine("| form | engine best (threads), forward + backward | PyTorch best (threads), forward + backward | PyTorch time / engine time (bests) |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.WriteLine($"| naive recurrence | {Ms(recurrent)} | {Ms(torchRecurrent)} | {Ratio(recurrent, torchRecurrent)} |");
        Console.WriteLine($"| chunk-parallel (WY/UT) | {Ms(chunked)} | {Ms(torchChunked)} | {Ratio(chunked, torchChunked)} |");
        Console.WriteLine($"\nchunked: {recurrent.Value / chunked.Value:F2}x the naive recurrence, best against best (target >= 5x)");
        return 0;
    }

    static Dictionary<string, double>? RunTorch(int length, int threadCount)
    {
        string? python = TorchSgemm.FindPython();
        string? script = TrainingStep.FindScript("torch_deltaproduct.py");
        if (python is null || script is null) return null;
        string threads = threadCount.ToString(CultureInfo.InvariantCulture);
        var env = new Dictionary<string, string> { ["OMP_NUM_THREADS"] = threads, ["OPENBLAS_NUM_THREADS"] = threads, ["OPENBLAS_CORETYPE"] = "", ["OPENBLAS_L2_SIZE"] = "" };
        var (code, output) = TorchSgemm.Execute(python, [script, "--threads", threads, "--length", length.ToString(CultureInfo.InvariantCulture)], env, TimeSpan.FromMinutes(10));
        if (code != 0)
        {
            Console.WriteLine($"PyTorch: torch_deltaproduct.py exited with {code}: {output}");
            return null;
        }
        using var doc = JsonDocument.Parse(output.Trim().Split('\n').Last());
        return doc.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
    }
}
