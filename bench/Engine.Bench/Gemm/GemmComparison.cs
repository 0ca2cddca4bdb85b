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

        Console.WriteLine(MachineInfo.Header());
        Console.WriteLine($"Small-M streaming for M <= {SmallMGemm.MaxM}; each side timed at {string.Join(" and ", BestOfThreads.Counts)} thread(s), best taken");
        var (peak, width) = FmaPeak.Measure(quick ? 100_000 : 2_000_000);
        double peak256 = FmaPeak.Measure256(quick ? 100_000 : 2_000_000);
        Console.WriteLine($"FMA peak, 1 thread: {peak:F1} GFLOP/s ({width}" + (width == "Vector256" ? ")" : $"; Vector256: {peak256:F1} GFLOP/s)"));

        var shapes = Shapes(quick).SelectMany(s => BestOfThreads.Counts.Select(t => s with { Threads = t })).ToList();
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

        var rows = Shapes(quick).ToList();
        Console.WriteLine(Table(rows, engine, torch, torchPinned, peak));

        if (engine.TryGetValue(new GemmShape(1024, 1024, 1024, 1), out double g1024))
            Console.WriteLine($"SGEMM 1024^3, 1 thread: {g1024:F1} GFLOP/s = {100 * g1024 / peak:F1}% of the measured FMA peak (target >= 60%)");
        var ratios = rows.Where(s => Best(torch, s) is not null).Select(s => Best(engine, s)!.Value.Value / Best(torch, s)!.Value.Value).ToArray();
        var pinnedRatios = rows.Where(s => Best(torchPinned, s) is not null).Select(s => Best(engine, s)!.Value.Value / Best(torchPinned, s)!.Value.Value).ToArray();
        if (!ReferenceEquals(torch, torchPinned) && pinnedRatios.Length > 0)
            Console.WriteLine($"engine best / torch best with the machine's pinned OpenBLAS kernel: geometric mean {Math.Exp(pinnedRatios.Average(Math.Log)):F2}x, min {pinnedRatios.Min():F2}x, max {pinnedRatios.Max():F2}x");
        if (ratios.Length > 0)
            Console.WriteLine($"engine best / torch best (best OpenBLAS kernel): geometric mean {Math.Exp(ratios.Average(Math.Log)):F2}x, min {ratios.Min():F2}x, max {ratios.Max():F2}x over {ratios.Length} shapes (target >= 1.5x)");

        int mvN = quick ? 128 : 768, mvK = quick ? 128 : 768;
        var mv = EngineSgemm.MatVec(mvN, mvK, reps, minSeconds);
        Console.WriteLine($"M=1 ({mvK} -> {mvN}), 1 thread: engine {mv.EngineAxpy:F1} vs plain axpy loop (TensorPrimitives.MultiplyAdd per row of W[K,N]) {mv.PlainAxpy:F1} GFLOP/s ({mv.EngineAxpy / mv.PlainAxpy:F2}x); "
            + $"engine {mv.EngineDot:F1} vs plain dot loop (TensorPrimitives.Dot per row of W^T[N,K]) {mv.PlainDot:F1} GFLOP/s ({mv.EngineDot / mv.PlainDot:F2}x)");
        return 0;
    }

    /// <summary>The shapes of the report, without a thread count (each is timed at every count of <see cref="BestOfThreads.Counts"/>).</summary>
    private static IEnumerable<GemmShape> Shapes(bool quick)
    {
        int[] squares = quick ? [64, 128] : [256, 512, 1024, 2048];
        foreach (int n in squares) yield return new GemmShape(n, n, n, 0);
        int[] ms = quick ? [1, 16] : [1, 16, 128, 2048];
        int[] nks = quick ? [128] : [128, 512, 768];
        foreach (int m in ms)
            foreach (int n in nks)
                foreach (int k in nks)
                    yield return new GemmShape(m, n, k, 0);
    }

    /// <summary>The best GFLOP/s of <paramref name="shape"/> over the thread counts measured, or null if none was.</summary>
    private static Best? Best(Dictionary<GemmShape, double> gflops, GemmShape shape)
    {
        var runs = BestOfThreads.Counts.Where(t => gflops.ContainsKey(shape with { Threads = t })).Select(t => (t, gflops[shape with { Threads = t }])).ToList();
        return runs.Count == 0 ? null : BestOfThreads.Highest(runs);
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
        string line = $"PyTorch via {python}: BLAS = {string.Join("; ", blas)}";
        // Debian's torch takes whatever libblas.so.3 points at; netlib's reference BLAS is no fair opponent.
        return blas.Any(b => b.Contains("openblas", StringComparison.OrdinalIgnoreCase) || b.Contains("mkl", StringComparison.OrdinalIgnoreCase))
            ? line
            : line + "\nWARNING: torch is not using OpenBLAS or MKL here (reference BLAS?): its GEMM figures are not a fair comparison; install libopenblas0 or set ENGINE_BENCH_PYTHON";
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
        int all = BestOfThreads.Counts[^1];
        sb.AppendLine($"GFLOP/s; \"best (threads)\" is the better of 1 and {all} threads and the count that gave it; ratio = engine best / torch best.");
        sb.AppendLine($"| shape (MxNxK) | engine, 1 thread | engine, {all} threads | engine best (threads) | torch best (threads){(two ? ", best kernel" : "")} | ratio |"
            + (two ? " torch best (threads), pinned kernel | ratio |" : "") + " engine best, % of peak |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|" + (two ? "---:|---:|" : "") + "---:|");
        foreach (var s in shapes)
        {
            var e = Best(engine, s)!.Value;
            string one = engine[s with { Threads = 1 }].ToString("F1"), many = engine[s with { Threads = all }].ToString("F1");
            var t = Best(torch, s);
            string ratio = t is { } tv ? (e.Value / tv.Value).ToString("F2") + "x" : "n/a";
            // Peak is per core; a multi-threaded figure is measured against threads x peak.
            string ofPeak = peak > 0 ? (100 * e.Value / (peak * e.Threads)).ToString("F1") + "%" : "n/a";
            sb.Append($"| {s} | {one} | {many} | {e.Format("F1")} | {t?.Format("F1") ?? "n/a"} | {ratio} |");
            if (two)
            {
                var p = Best(torchPinned, s);
                sb.Append($" {p?.Format("F1") ?? "n/a"} | {(p is { } pv ? (e.Value / pv.Value).ToString("F2") + "x" : "n/a")} |");
            }
            sb.AppendLine($" {ofPeak} |");
        }
        return sb.ToString();
    }
}
