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
        Console.WriteLine($"CPU: {MachineInfo.CpuModel()}, {cores} logical cores, ISA: {MachineInfo.Isa()}");

        long before = GC.GetTotalMemory(forceFullCollection: true);
        var clock = Stopwatch.StartNew();
        var embedder = SentenceEmbedder.LoadMiniLm();
        double loadMs = clock.Elapsed.TotalMilliseconds;
        long retained = GC.GetTotalMemory(forceFullCollection: true) - before;
        Console.WriteLine($"engine: all-MiniLM-L6-v2 loaded in {loadMs:F0} ms, {retained / 1e6:F0} MB of managed memory held; threads {cores}, length {Length}");

        var engine = new Dictionary<int, double>();
        foreach (int batch in Batches)
        {
            var ids = Tensor.FromArray(Ids(batch), [batch, Length]);
            Tensor Embed() => SentenceEmbedder.Normalise(Bert.MeanPool(embedder.Bert.Encode(ids, null, null, null, null), null));
            using (Engine.Autograd.Autograd.NoGrad())
            {
                Embed(); Embed();
                int runs = 0;
                clock.Restart();
                while (clock.Elapsed.TotalSeconds < seconds || runs < 2) { Embed(); runs++; }
                engine[batch] = batch * runs / clock.Elapsed.TotalSeconds;
            }
            Console.WriteLine($"engine batch {batch}: {engine[batch]:F1} sentences/s");
            if (args.Contains("--profile"))
                using (Engine.Autograd.Autograd.NoGrad())
                    Console.WriteLine(OpProfile.Measure(() => Embed()));
        }

        var ort = args.Contains("--engine-only") ? null : RunOnnxRuntime(seconds, cores);
        Console.WriteLine();
        Console.WriteLine($"| figure (length {Length}, {cores} threads) | engine | ONNX Runtime{(ort is null ? "" : $" ({ort.Value.Threads} threads)")} | engine / ORT |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (int batch in Batches)
        {
            double? o = ort?.PerBatch.GetValueOrDefault(batch);
            Console.WriteLine($"| embeddings, batch {batch}, sentences/s | {engine[batch]:F1} | {(o is null ? "n/a" : o.Value.ToString("F1"))} | {(o is null ? "" : (engine[batch] / o.Value).ToString("F2"))} |");
        }
        Console.WriteLine($"| load the model, ms | {loadMs:F0} | {(ort is null ? "n/a" : ort.Value.LoadMs.ToString("F0"))} | |");
        Console.WriteLine($"| managed memory held after load | {retained / 1e6:F0} MB | | |");
        return 0;
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

    // Runs bench/Engine.Bench.Onnx on the package's ONNX file at 1..cores threads and keeps the best per batch.
    static (int Threads, Dictionary<int, double> PerBatch, double LoadMs)? RunOnnxRuntime(double seconds, int cores)
    {
        string? project = TrainingStep.FindScript(Path.Combine("Engine.Bench.Onnx", "Engine.Bench.Onnx.csproj"));
        if (project is null) { Console.WriteLine("ONNX Runtime: bench/Engine.Bench.Onnx not found"); return null; }
        string model = Path.Combine(Path.GetTempPath(), "engine-bench-minilm.onnx");
        File.WriteAllBytes(model, MiniLmPackage.ReadModel());
        var (build, buildOutput) = TorchSgemm.Execute("dotnet", ["build", "-c", "Release", project, "-v", "q", "-nologo"], null, TimeSpan.FromMinutes(5));
        if (build != 0) { Console.WriteLine($"ONNX Runtime: build failed: {buildOutput}"); return null; }
        (int, Dictionary<int, double>, double)? best = null;
        for (int threads = 1; threads <= cores; threads++)
        {
            var arguments = new List<string> { "run", "-c", "Release", "--no-build", "--project", project, "--", model,
                threads.ToString(CultureInfo.InvariantCulture), Length.ToString(CultureInfo.InvariantCulture), seconds.ToString(CultureInfo.InvariantCulture) };
            arguments.AddRange(Batches.Select(b => b.ToString(CultureInfo.InvariantCulture)));
            var (code, output) = TorchSgemm.Execute("dotnet", [.. arguments], null, TimeSpan.FromMinutes(10));
            if (code != 0) { Console.WriteLine($"ONNX Runtime: exited with {code}: {output}"); return best; }
            var perBatch = new Dictionary<int, double>();
            double loadMs = 0;
            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var f = line.Split(' ');
                if (f[0] == "batch") perBatch[int.Parse(f[1], CultureInfo.InvariantCulture)] = double.Parse(f[3], CultureInfo.InvariantCulture);
                else if (f[0] == "load_ms") loadMs = double.Parse(f[1], CultureInfo.InvariantCulture);
            }
            Console.WriteLine($"ONNX Runtime, {threads} thread(s): " + string.Join(", ", perBatch.Select(kv => $"batch {kv.Key} {kv.Value:F1}/s")));
            if (best is null || perBatch.GetValueOrDefault(32) > best.Value.Item2.GetValueOrDefault(32)) best = (threads, perBatch, loadMs);
        }
        return best;
    }
}
