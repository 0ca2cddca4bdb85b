using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Engine.Autograd;
using Engine.Bench.Gemm;
using Engine.Nn;

namespace Engine.Bench.Training;

/// <summary>
/// The tiny-GPT figures of the neural-network issue, side by side with PyTorch (bench/torch_gpt.py, same model):
/// training-step and forward tokens/s, bytes allocated and GC pause per step, and generation tokens/s at batch 1
/// with the KV cache.
/// </summary>
static class TrainingStep
{
    const int Vocab = 256, Context = 128, Width = 128, Layers = 4, Heads = 4, Batch = 16, GenerateTokens = 64;

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int steps = quick ? 2 : 10;
        Console.WriteLine(MachineInfo.Header());
        Console.WriteLine($"tiny GPT: V={Vocab}, d={Width}, {Layers} layers, {Heads} heads, T={Context}, B={Batch}, AdamW; each side at {string.Join(" and ", BestOfThreads.Counts)} thread(s), best taken");

        var model = new Gpt(new GptConfig(Vocab, Context, Width, Layers, Heads), new Generator(0));
        var optimizer = new AdamW(model.Parameters(), 1e-3);
        var gen = new Generator(1);
        var x = Tensor.Randint(0, Vocab, [Batch, Context], generator: gen);
        var y = Tensor.Randint(0, Vocab, [Batch, Context], generator: gen);
        if (args.Contains("--profile")) return TrainingProfile.Run(model, optimizer, x, y, steps);
        void Step()
        {
            var loss = Losses.CrossEntropy(model.Forward(x), y);
            optimizer.ZeroGrad();
            loss.Backward();
            optimizer.Step();
        }

        // One pass of every engine figure at the current kernel thread cap.
        (double Train, double Forward, double Generate, double BytesPerStep, double PausePerStep) Measure()
        {
            // Steady state, as a training run spends nearly all its steps (see TrainingProfile.Warmup).
            for (int i = 0; i < (quick ? 3 : TrainingProfile.Warmup); i++) Step();
            long bytesBefore = GC.GetTotalAllocatedBytes(precise: true);
            var pauseBefore = GC.GetTotalPauseDuration();
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < steps; i++) Step();
            double train = clock.Elapsed.TotalSeconds / steps;
            double bytesPerStep = (GC.GetTotalAllocatedBytes(precise: true) - bytesBefore) / (double)steps;
            double pausePerStep = (GC.GetTotalPauseDuration() - pauseBefore).TotalMilliseconds / steps;

            double forward;
            using (Engine.Autograd.Autograd.NoGrad())
            {
                model.Forward(x);
                clock.Restart();
                for (int i = 0; i < steps; i++) model.Forward(x);
                forward = clock.Elapsed.TotalSeconds / steps;
            }

            var prompt = Tensor.Zeros([1, 1], DType.Int64);
            // Decoding runs code the training steps did not: warm it up until tiered compilation has promoted it.
            clock.Restart();
            do Sampling.Generate(model, prompt, 8, new SamplingOptions(Greedy: true));
            while (clock.Elapsed.TotalSeconds < (quick ? 0.05 : 0.5));
            clock.Restart();
            int reps = quick ? 1 : 3;
            for (int i = 0; i < reps; i++) Sampling.Generate(model, prompt, GenerateTokens, new SamplingOptions(Greedy: true));
            double generate = GenerateTokens * reps / clock.Elapsed.TotalSeconds;
            double tokens = Batch * Context;
            return (tokens / train, tokens / forward, generate, bytesPerStep, pausePerStep);
        }

        var runs = BestOfThreads.Counts.Select(t => (Threads: t, Figures: BestOfThreads.WithEngineThreads(t, Measure))).ToList();
        var engine = (Train: BestOfThreads.Highest(runs.Select(r => (r.Threads, r.Figures.Train))),
            Forward: BestOfThreads.Highest(runs.Select(r => (r.Threads, r.Figures.Forward))),
            Generate: BestOfThreads.Highest(runs.Select(r => (r.Threads, r.Figures.Generate))));
        var memory = runs[^1].Figures;
        var torch = BestTorch(steps, bestKernel: true);
        var torchPinned = Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE") is { Length: > 0 } ? BestTorch(steps, bestKernel: false) : null;

        Console.WriteLine();
        Console.WriteLine("| figure | engine best (threads) | PyTorch best (threads) | engine / PyTorch (bests) |" + (torchPinned is null ? "" : " PyTorch best (threads), pinned OpenBLAS kernel | ratio |"));
        Console.WriteLine("|---|---:|---:|---:|" + (torchPinned is null ? "" : "---:|---:|"));
        Row("training step, tokens/s", engine.Train, torch?.Train, torchPinned?.Train);
        Row("forward only, tokens/s", engine.Forward, torch?.Forward, torchPinned?.Forward);
        Row($"generation, batch 1, KV cache, tokens/s", engine.Generate, torch?.Generate, torchPinned?.Generate);
        double tokensPerStep = Batch * Context;
        Console.WriteLine($"| training step time | {tokensPerStep / engine.Train.Value * 1e3:F1} ms ({engine.Train.Threads}) | {(torch is null ? "n/a" : (tokensPerStep / torch.Value.Train.Value * 1e3).ToString("F1") + $" ms ({torch.Value.Train.Threads})")} | |" + (torchPinned is null ? "" : " | |"));
        Console.WriteLine($"| bytes allocated per step (after warm-up, {runs[^1].Threads} threads) | {memory.BytesPerStep / 1e6:F1} MB | | |" + (torchPinned is null ? "" : " | |"));
        Console.WriteLine($"| GC pause per step ({runs[^1].Threads} threads) | {memory.PausePerStep:F2} ms | | |" + (torchPinned is null ? "" : " | |"));
        if (torch is { } t) Console.WriteLine($"\ntraining step: {engine.Train.Value / t.Train.Value:F2}x PyTorch, best against best (target >= 2x)");
        return 0;

        void Row(string name, Best e, Best? p, Best? pp)
        {
            string ratio = p is null ? "n/a" : (e.Value / p.Value.Value).ToString("F2", CultureInfo.InvariantCulture) + "x";
            string extra = torchPinned is null ? "" : $" {pp?.Format("F0") ?? "n/a"} | {(pp is null ? "n/a" : (e.Value / pp.Value.Value).ToString("F2", CultureInfo.InvariantCulture) + "x")} |";
            Console.WriteLine($"| {name} | {e.Format("F0")} | {p?.Format("F0") ?? "n/a"} | {ratio} |{extra}");
        }
    }

    /// <summary>PyTorch's figures at each thread count of <see cref="BestOfThreads.Counts"/>, best of each; null without torch.</summary>
    static (Best Train, Best Forward, Best Generate)? BestTorch(int steps, bool bestKernel)
    {
        var runs = new List<(int Threads, (double Train, double Forward, double Generate) Figures)>();
        foreach (int threads in BestOfThreads.Counts)
            if (RunTorch(steps, bestKernel, threads) is { } figures) runs.Add((threads, figures));
        if (runs.Count == 0) return null;
        return (BestOfThreads.Highest(runs.Select(r => (r.Threads, r.Figures.Train))),
            BestOfThreads.Highest(runs.Select(r => (r.Threads, r.Figures.Forward))),
            BestOfThreads.Highest(runs.Select(r => (r.Threads, r.Figures.Generate))));
    }

    static (double Train, double Forward, double Generate)? RunTorch(int steps, bool bestKernel, int threadCount)
    {
        string? python = TorchSgemm.FindPython();
        string? script = FindScript("torch_gpt.py");
        if (python is null || script is null)
        {
            Console.WriteLine("PyTorch: not available (no python3 that can `import torch`)");
            return null;
        }
        string threads = threadCount.ToString(CultureInfo.InvariantCulture);
        var env = new Dictionary<string, string> { ["OMP_NUM_THREADS"] = threads, ["OPENBLAS_NUM_THREADS"] = threads };
        if (bestKernel) env["OPENBLAS_CORETYPE"] = env["OPENBLAS_L2_SIZE"] = "";
        var (code, output) = TorchSgemm.Execute(python, [script, "--threads", threads, "--steps", steps.ToString(CultureInfo.InvariantCulture), "--gen", GenerateTokens.ToString(CultureInfo.InvariantCulture)], env, TimeSpan.FromMinutes(10));
        if (code != 0)
        {
            Console.WriteLine($"PyTorch: torch_gpt.py exited with {code}: {output}");
            return null;
        }
        using var doc = JsonDocument.Parse(output.Trim().Split('\n').Last());
        var r = doc.RootElement;
        return (r.GetProperty("train_tokens_per_s").GetDouble(), r.GetProperty("forward_tokens_per_s").GetDouble(), r.GetProperty("generate_tokens_per_s").GetDouble());
    }

    /// <summary>bench/<paramref name="name"/> above the working or the binary's directory, or null.</summary>
    internal static string? FindScript(string name)
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "bench", name);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }
}
