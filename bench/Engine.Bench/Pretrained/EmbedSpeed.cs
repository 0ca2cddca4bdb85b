using System.Diagnostics;
using System.Globalization;
using Engine.Autograd;
using Engine.Bench.Gemm;
using Engine.Bench.Training;
using Engine.Nn;
using Engine.Pretrained;
using Engine.Pretrained.MiniLm;

namespace Engine.Bench.Pretrained;

/// <summary>
/// The MiniLM figures of the pretrained-model issue: time and managed memory to load all-MiniLM-L6-v2 from the NuGet
/// package, and sentence embeddings per second (encoder, mean pooling, normalisation) at batch 1 and 32 and length
/// 128, side by side with ONNX Runtime running the same ONNX file (bench/Engine.Bench.Onnx, a separate project: the
/// only native ML runtime in the repository) at its best thread count up to the core count.
/// </summary>
static class EmbedSpeed
{
    const int Length = 128;
    static readonly int[] Batches = [1, 32];

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        double seconds = quick ? 1 : 6;
        int cores = Environment.ProcessorCount;
        Console.WriteLine(MachineInfo.Header());

        long before = GC.GetTotalMemory(forceFullCollection: true);
        var clock = Stopwatch.StartNew();
        var embedder = SentenceEmbedder.LoadMiniLm();
        double loadMs = clock.Elapsed.TotalMilliseconds;
        long retained = GC.GetTotalMemory(forceFullCollection: true) - before;
        Console.WriteLine($"engine: all-MiniLM-L6-v2 loaded in {loadMs:F0} ms, {retained / 1e6:F0} MB of managed memory held; threads {cores}, length {Length}");

        // This machine's speed drifts (shared host): engine and ONNX Runtime run alternately, round after round, and
        // each figure is the median of its rounds, so a slow spell falls on both sides alike.
        int rounds = OptionValue(args, "--rounds") ?? (quick ? 1 : 3);
        string? onnx = args.Contains("--engine-only") ? null : PrepareOnnxRuntime();
        var engineRuns = Batches.ToDictionary(b => b, _ => new List<double>());
        var ortRuns = new Dictionary<int, Dictionary<int, List<double>>>(); // threads -> batch -> rates
        double ortLoadMs = 0;
        for (int round = 1; round <= rounds; round++)
        {
            foreach (int batch in Batches)
            {
                double rate = MeasureEngine(embedder, batch, seconds);
                engineRuns[batch].Add(rate);
                Console.WriteLine($"round {round}: engine batch {batch}: {rate:F1} sentences/s");
                if (round == 1 && args.Contains("--profile"))
                {
                    var ids = Tensor.FromArray(Ids(batch), [batch, Length]);
                    using (Engine.Autograd.Autograd.NoGrad())
                        Console.WriteLine(OpProfile.Measure(() => SentenceEmbedder.Normalise(Bert.MeanPool(embedder.Bert.Encode(ids, null, null, null, null), null))));
                }
            }
            if (onnx is null) continue;
            for (int threads = 1; threads <= cores; threads++)
            {
                var result = RunOnnxRuntime(onnx, threads, seconds);
                if (result is null) { onnx = null; break; }
                ortLoadMs = result.Value.LoadMs;
                var perThreads = ortRuns.TryGetValue(threads, out var d) ? d : ortRuns[threads] = Batches.ToDictionary(b => b, _ => new List<double>());
                foreach (var (batch, rate) in result.Value.PerBatch) perThreads[batch].Add(rate);
                Console.WriteLine($"round {round}: ONNX Runtime, {threads} thread(s): " + string.Join(", ", result.Value.PerBatch.Select(kv => $"batch {kv.Key} {kv.Value:F1}/s")));
            }
        }

        var engine = engineRuns.ToDictionary(kv => kv.Key, kv => Median(kv.Value));
        // ONNX Runtime at its best thread count (by the median at batch 32).
        var best = ortRuns.Count == 0 ? (int?)null : ortRuns.MaxBy(kv => Median(kv.Value[32])).Key;
        var ort = best is { } t ? ortRuns[t].ToDictionary(kv => kv.Key, kv => Median(kv.Value)) : null;
        Console.WriteLine();
        Console.WriteLine($"| figure (length {Length}, {cores} threads, median of {rounds} rounds) | engine | ONNX Runtime{(best is null ? "" : $" ({best} threads)")} | engine / ORT |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (int batch in Batches)
        {
            double? o = ort?.GetValueOrDefault(batch);
            Console.WriteLine($"| embeddings, batch {batch}, sentences/s | {engine[batch]:F1} | {(o is null ? "n/a" : o.Value.ToString("F1"))} | {(o is null ? "" : (engine[batch] / o.Value).ToString("F2"))} |");
        }
        Console.WriteLine($"| load the model, ms | {loadMs:F0} | {(ort is null ? "n/a" : ortLoadMs.ToString("F0"))} | |");
        Console.WriteLine($"| managed memory held after load | {retained / 1e6:F0} MB | | |");
        return 0;
    }

    static double MeasureEngine(SentenceEmbedder embedder, int batch, double seconds)
    {
        var ids = Tensor.FromArray(Ids(batch), [batch, Length]);
        Tensor Embed() => SentenceEmbedder.Normalise(Bert.MeanPool(embedder.Bert.Encode(ids, null, null, null, null), null));
        using (Engine.Autograd.Autograd.NoGrad())
        {
            Embed(); Embed();
            int runs = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < seconds || runs < 2) { Embed(); runs++; }
            return batch * runs / clock.Elapsed.TotalSeconds;
        }
    }

    static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    static int? OptionValue(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out int v) && v > 0 ? v : null;
    }

    /// <summary>The bench's token ids: [CLS], seeded word pieces, [SEP] in every row (the ONNX Runtime side makes the same).</summary>
    static long[] Ids(int batch)
    {
        var ids = new long[batch * Length];
        var random = new Random(7);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < Length; t++)
                ids[b * Length + t] = t == 0 ? 101 : t == Length - 1 ? 102 : random.Next(1000, 30000);
        return ids;
    }

    // Writes the package's ONNX file where bench/Engine.Bench.Onnx can read it and builds that project; null when it cannot.
    static string? PrepareOnnxRuntime()
    {
        string? project = TrainingStep.FindScript(Path.Combine("Engine.Bench.Onnx", "Engine.Bench.Onnx.csproj"));
        if (project is null) { Console.WriteLine("ONNX Runtime: bench/Engine.Bench.Onnx not found"); return null; }
        File.WriteAllBytes(OnnxModelPath, MiniLmPackage.ReadModel());
        var (build, buildOutput) = TorchSgemm.Execute("dotnet", ["build", "-c", "Release", project, "-v", "q", "-nologo"], null, TimeSpan.FromMinutes(5));
        if (build != 0) { Console.WriteLine($"ONNX Runtime: build failed: {buildOutput}"); return null; }
        return project;
    }

    static string OnnxModelPath => Path.Combine(Path.GetTempPath(), "engine-bench-minilm.onnx");

    // One run of bench/Engine.Bench.Onnx at the given thread count: sentences/s per batch and the load time.
    static (Dictionary<int, double> PerBatch, double LoadMs)? RunOnnxRuntime(string project, int threads, double seconds)
    {
        var arguments = new List<string> { "run", "-c", "Release", "--no-build", "--project", project, "--", OnnxModelPath,
            threads.ToString(CultureInfo.InvariantCulture), Length.ToString(CultureInfo.InvariantCulture), seconds.ToString(CultureInfo.InvariantCulture) };
        arguments.AddRange(Batches.Select(b => b.ToString(CultureInfo.InvariantCulture)));
        var (code, output) = TorchSgemm.Execute("dotnet", [.. arguments], null, TimeSpan.FromMinutes(10));
        if (code != 0) { Console.WriteLine($"ONNX Runtime: exited with {code}: {output}"); return null; }
        var perBatch = new Dictionary<int, double>();
        double loadMs = 0;
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var f = line.Split(' ');
            if (f[0] == "batch") perBatch[int.Parse(f[1], CultureInfo.InvariantCulture)] = double.Parse(f[3], CultureInfo.InvariantCulture);
            else if (f[0] == "load_ms") loadMs = double.Parse(f[1], CultureInfo.InvariantCulture);
        }
        return (perBatch, loadMs);
    }
}
