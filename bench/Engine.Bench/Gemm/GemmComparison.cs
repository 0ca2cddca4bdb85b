using System.Globalization;
using System.Text;
using Engine.Backends.Cpu;

namespace Engine.Bench.Gemm;

/// <summary>
/// `gemm`: the SGEMM report of DESIGN.md's performance targets, in one run: machine, measured FMA peak,
/// the engine and PyTorch on the same shapes and thread counts, a markdown table, and M = 1 against plain loops.
/// </summary>
internal static class GemmComparison
{
    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        int all = Environment.ProcessorCount;
        int reps = quick ? 1 : 5;
        double minSeconds = quick ? 0.001 : 0.05;
        Timing.WarmUpSeconds = quick ? 0.02 : 0.25;

        Console.WriteLine($"CPU: {MachineInfo.CpuModel()}, {all} logical cores, ISA: {MachineInfo.Isa()}");
        Console.WriteLine($"Engine GEMM path: {PackedGemm.BestPath} (small-M streaming for M <= {SmallMGemm.MaxM})");
        var (peak, width) = FmaPeak.Measure(quick ? 100_000 : 2_000_000);
        double peak256 = FmaPeak.Measure256(quick ? 100_000 : 2_000_000);
        Console.WriteLine($"FMA peak, 1 thread: {peak:F1} GFLOP/s ({width}; Vector256: {peak256:F1} GFLOP/s)");

        var shapes = Shapes(quick, all);
        var engine = new Dictionary<GemmShape, double>();
        foreach (var s in shapes) engine[s] = EngineSgemm.Gflops(s, reps, minSeconds);

        // Torch twice when this machine pins OpenBLAS to an older kernel: as configured, and with OpenBLAS's own best kernel.
        var torchPinned = new Dictionary<GemmShape, double>();
        Console.WriteLine(TorchInto(torchPinned, shapes, quick ? 1 : 3, minSeconds, bestKernel: false));
        var torch = torchPinned;
        if (Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE") is { Length: > 0 } pinned)
        {
            torch = new Dictionary<GemmShape, double>();
            Console.WriteLine(TorchInto(torch, shapes, quick ? 1 : 3, minSeconds, bestKernel: true) + $" (OPENBLAS_CORETYPE={pinned} removed)");
        }
        Console.WriteLine();

        Console.WriteLine(Table(shapes, engine, torch, torchPinned, peak));

        var single1024 = shapes.FirstOrDefault(s => s is { M: 1024, N: 1024, K: 1024, Threads: 1 });
        if (engine.TryGetValue(single1024, out double g1024))
            Console.WriteLine($"SGEMM 1024^3, 1 thread: {g1024:F1} GFLOP/s = {100 * g1024 / peak:F1}% of the measured FMA peak (target >= 60%)");
        var ratios = shapes.Where(torch.ContainsKey).Select(s => engine[s] / torch[s]).ToArray();
        var pinnedRatios = shapes.Where(torchPinned.ContainsKey).Select(s => engine[s] / torchPinned[s]).ToArray();
        if (!ReferenceEquals(torch, torchPinned) && pinnedRatios.Length > 0)
            Console.WriteLine($"engine / torch with the machine's pinned OpenBLAS kernel: geometric mean {Math.Exp(pinnedRatios.Average(Math.Log)):F2}x, min {pinnedRatios.Min():F2}x, max {pinnedRatios.Max():F2}x");
        if (ratios.Length > 0)
            Console.WriteLine($"engine / torch (best OpenBLAS kernel): geometric mean {Math.Exp(ratios.Average(Math.Log)):F2}x, min {ratios.Min():F2}x, max {ratios.Max():F2}x over {ratios.Length} shapes (target >= 1.5x)");

        int mvN = quick ? 128 : 768, mvK = quick ? 128 : 768;
        var mv = EngineSgemm.MatVec(mvN, mvK, reps, minSeconds);
        Console.WriteLine($"M=1 ({mvK} -> {mvN}), 1 thread: engine {mv.EngineAxpy:F1} vs plain axpy loop (TensorPrimitives.MultiplyAdd per row of W[K,N]) {mv.PlainAxpy:F1} GFLOP/s ({mv.EngineAxpy / mv.PlainAxpy:F2}x); "
            + $"engine {mv.EngineDot:F1} vs plain dot loop (TensorPrimitives.Dot per row of W^T[N,K]) {mv.PlainDot:F1} GFLOP/s ({mv.EngineDot / mv.PlainDot:F2}x)");
        return 0;
    }

    private static List<GemmShape> Shapes(bool quick, int all)
    {
        var shapes = new List<GemmShape>();
        int[] squares = quick ? [64, 128] : [256, 512, 1024, 2048];
        foreach (int n in squares)
        {
            shapes.Add(new GemmShape(n, n, n, 1));
            if (all > 1) shapes.Add(new GemmShape(n, n, n, all));
        }
        int[] ms = quick ? [1, 16] : [1, 16, 128, 2048];
        int[] nks = quick ? [128] : [128, 512, 768];
        foreach (int m in ms)
            foreach (int n in nks)
                foreach (int k in nks)
                    shapes.Add(new GemmShape(m, n, k, all));
        return shapes;
    }

    private static string TorchInto(Dictionary<GemmShape, double> torch, List<GemmShape> shapes, int reps, double minSeconds, bool bestKernel)
    {
        string? python = TorchSgemm.FindPython();
        string? script = FindScript();
        if (python is null) return "PyTorch: not available (no python3 that can `import torch`; set ENGINE_BENCH_PYTHON)";
        if (script is null) return "PyTorch: bench/torch_gemm.py not found";
        var blas = new HashSet<string>();
        foreach (var group in shapes.GroupBy(s => s.Threads))
        {
            var (result, library) = TorchSgemm.Run(python, script, group.ToList(), group.Key, reps, minSeconds, bestKernel);
            foreach (var (shape, gflops) in result) torch[shape] = gflops;
            blas.Add(library);
        }
        return $"PyTorch via {python}: BLAS = {string.Join("; ", blas)}";
    }

    private static string? FindScript()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "bench", "torch_gemm.py");
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }

    private static string Table(List<GemmShape> shapes, Dictionary<GemmShape, double> engine, Dictionary<GemmShape, double> torch,
        Dictionary<GemmShape, double> torchPinned, double peak)
    {
        var sb = new StringBuilder();
        bool two = !ReferenceEquals(torch, torchPinned);
        sb.AppendLine(two
            ? "| shape (MxNxK) | threads | engine GFLOP/s | torch GFLOP/s (best kernel) | ratio | torch GFLOP/s (pinned kernel) | ratio | engine % of peak |"
            : "| shape (MxNxK) | threads | engine GFLOP/s | torch GFLOP/s | ratio | % of peak |");
        sb.AppendLine(two ? "|---|---:|---:|---:|---:|---:|---:|---:|" : "|---|---:|---:|---:|---:|---:|");
        foreach (var s in shapes)
        {
            double e = engine[s];
            string t = torch.TryGetValue(s, out double tv) ? tv.ToString("F1") : "n/a";
            string ratio = torch.ContainsKey(s) ? (e / tv).ToString("F2") + "x" : "n/a";
            // Peak is per core; a multi-threaded row is measured against threads x peak.
            string ofPeak = peak > 0 ? (100 * e / (peak * s.Threads)).ToString("F1") + "%" : "n/a";
            if (two)
            {
                string tp = torchPinned.TryGetValue(s, out double pv) ? pv.ToString("F1") : "n/a";
                string rp = torchPinned.ContainsKey(s) ? (e / pv).ToString("F2") + "x" : "n/a";
                sb.AppendLine($"| {s} | {s.Threads} | {e:F1} | {t} | {ratio} | {tp} | {rp} | {ofPeak} |");
            }
            else sb.AppendLine($"| {s} | {s.Threads} | {e:F1} | {t} | {ratio} | {ofPeak} |");
        }
        return sb.ToString();
    }
}
