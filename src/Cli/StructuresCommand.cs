using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Engine.Nn;
using Engine.Peft.Recursive;

namespace Engine.Cli;

/// <summary>
/// <c>engine structures</c>: the issue-19 comparison on the names job. Each structure is trained from scratch with the
/// same data, steps, batch and schedule (AdamW, warm-up + cosine, as <c>engine train</c>), its auxiliary router losses
/// added (<see cref="AuxiliaryLosses"/>), at about the dense model's parameter count (the widths below are chosen for
/// that); the Relaxed Recursive row is the dense row's model converted (<see cref="RelaxedRecursive"/>) and uptrained
/// for a third of the steps. It prints validation loss, parameters, training tokens/s and KV-cached generation
/// tokens/s (MASA and STABLE-RPS decode on their materialised weights, as both deploy), and for the mixtures of experts
/// each layer's expert load against uniform.
/// </summary>
static class StructuresCommand
{
    /// <summary>One trained structure: what the table shows.</summary>
    public sealed record Row(string Name, string Shape, long Parameters, double ValidationLoss, double TrainTokensPerSecond, double GenerationTokensPerSecond, string? Loads);

    /// <summary>A structure to train: its name, shape, and how to build it from a seeded generator.</summary>
    sealed record Structure(string Name, string Shape, Func<GptConfig, Generator, Built> Build);

    /// <summary>A built model: the module to train, its forward, its decoder, a hook run after each backward.</summary>
    sealed record Built(Module Model, Func<Tensor, Tensor> Forward, IKvCacheModel Decoder, Action? AfterBackward = null, Action? BeforeGeneration = null);

    /// <summary>The structures by name, in table order (the Relaxed Recursive row is added after dense).</summary>
    static IReadOnlyList<Structure> Structures(int width, int layers, int heads) =>
    [
        new("dense", $"d {width}, {layers} layers", (c, g) => Plain(new Gpt(c, g))),
        // The recursive structures keep the dense model's 4 unique blocks and loop them: equal parameters, more depth.
        new("tied", $"d {width}, {2 * layers} layers = {layers} blocks x 2 (cycle)", (c, g) =>
        {
            var gpt = new Gpt(c with { Layers = 2 * layers }, g);
            LayerTying.Tie(gpt.Blocks, LayerTying.BlockOf(TyingPattern.Cycle, 2 * layers, 2), TiedInit.Lower);
            return Plain(gpt);
        }),
        // MASA shares attention atoms (S = 2 per projection type for 4 layers: the paper's S ≈ L / 3, rounded up) and
        // spends the saving on width.
        // Both decode on their materialised weights, as they deploy (MASA: W_l built at load; RPS: RoastToFullModel).
        new("MASA", $"d {OfHeads(width + width / 16, heads)}, {layers} layers, 2 atoms per Q/K/V/O", (c, g) =>
        {
            var gpt = SharedGpt.Masa(c with { DModel = OfHeads(width + width / 16, heads) }, 2, g).Model;
            return new Built(gpt, gpt.Forward, gpt, BeforeGeneration: () => ComputedLinear.Densify(gpt));
        }),
        // STABLE-RPS compresses a model twice as wide into the dense model's parameter count.
        new("STABLE-RPS", $"d {2 * width}, {layers} layers, in one hashed memory (RandomFold)", (c, g) =>
        {
            var wide = c with { DModel = 2 * width };
            var (gpt, rps) = SharedGpt.Rps(wide, SharedGpt.KeptFractionFor(wide, new Gpt(c, new Generator(0)).ParameterCount()), g);
            return new Built(gpt, gpt.Forward, gpt, rps.ScaleGradients, () => ComputedLinear.Densify(gpt));
        }),
        // The mixtures keep the dense FFN parameters split over 4 experts (each a quarter as wide): equal total
        // parameters, a quarter (top-1) or half (top-2) of the FFN active per token.
        new("MoE top-1", $"d {width}, {layers} layers, 4 experts of width {width}", (c, g) => Plain(new Gpt(c with { MlpRatio = 1, Moe = new MoeOptions(4, TopK: 1) }, g))),
        new("MoE top-2", $"d {width}, {layers} layers, 4 experts of width {width}", (c, g) => Plain(new Gpt(c with { MlpRatio = 1, Moe = new MoeOptions(4, TopK: 2) }, g))),
        // WideNet: one attention and one MoE FFN (4 experts of the dense width, top-2) for all layers, norms per layer.
        new("WideNet", $"d {OfHeads(width * 9 / 8, heads)}, {layers} layers sharing 1 block, 4 experts of width {4 * OfHeads(width * 9 / 8, heads)}", (c, g) =>
            Plain(WideNet.Create(c with { DModel = OfHeads(width * 9 / 8, heads) }, 4, g))),
        new("MoR", $"d {width}, 1 + {layers - 2} blocks x 3 + 1 (expert choice, recursion-wise KV)", (c, g) =>
        {
            var mor = new MorGpt(new MorConfig(c with { Layers = 2 + 3 * (layers - 2) }, Recursions: 3), g);
            return new Built(mor, mor.Forward, mor);
        }),
    ];

    public const string RelaxedName = "relaxed recursive";

    /// <summary>Every structure's name in table order.</summary>
    public static string[] Names => Structures(64, 4, 4).Select(s => s.Name).SelectMany(n => n == "dense" ? new[] { n, RelaxedName } : [n]).ToArray();

    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "names file (UTF-8, one per line), or an embedded set: female, male, all", DefaultValueFactory = _ => "female" };
        var steps = ValidatedOption.Integer("--steps", "optimiser steps of every structure", 1000, min: 1);
        var batch = ValidatedOption.Integer("--batch", "sequences per batch", 32, min: 1);
        var context = ValidatedOption.Integer("--context", "tokens per sequence", 32, min: 2);
        var width = ValidatedOption.Integer("--width", "width of the dense model (the others are sized to its parameter count)", 64, min: 8);
        var lr = ValidatedOption.Positive("--lr", "peak learning rate (AdamW, warm-up + cosine)", 3e-3);
        var only = new Option<string?>("--only") { Description = "train only these structures, comma-separated names" };
        var seed = new Option<ulong>("--seed") { Description = "seed of data order and initialisation", DefaultValueFactory = _ => 1 };
        var output = ValidatedOption.OptionalOutputFile("--out", "write the markdown table there too");
        var command = new Command("structures", "train dense, tied, relaxed recursive, MoR, MoE, WideNet, MASA and STABLE-RPS GPTs on the names job at about equal parameters: loss, parameters, tokens/s");
        foreach (var o in new Option[] { data, steps, batch, context, width, lr, only, seed, output }) command.Options.Add(o);
        command.SetAction(r =>
        {
            var rows = Run(r.GetValue(data)!, r.GetValue(steps), r.GetValue(batch), r.GetValue(context), r.GetValue(width), r.GetValue(lr),
                r.GetValue(only)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries), r.GetValue(seed), Console.Out);
            var table = Table(rows);
            Console.WriteLine(table);
            if (r.GetValue(output) is { } path)
            {
                OutputPath.PrepareFile(path);
                File.WriteAllText(path, table);
            }
            return 0;
        });
        return command;
    }

    /// <summary>Trains every structure (or those named in <paramref name="only"/>) and returns their rows.</summary>
    public static IReadOnlyList<Row> Run(string data, int steps, int batch, int context, int width, double lr, string[]? only, ulong seed, TextWriter log)
    {
        const int layers = 4, heads = 4;
        if (width % heads != 0) throw new ArgumentException($"--width {width} must be a multiple of the {heads} heads");
        var structures = Structures(width, layers, heads);
        var names = structures.Select(s => s.Name).Append(RelaxedName).ToList();
        foreach (var n in only ?? [])
            if (!names.Contains(n)) throw new ArgumentException($"--only: unknown structure '{n}'; the structures are {string.Join(", ", names)}");
        bool Wanted(string n) => only is null || only.Contains(n);
        var texts = EmbeddedData.Load(data);
        var tokenizer = CharTokenizer.FromTexts(EmbeddedData.Load("all").Concat(texts));
        var corpus = NamesData.Corpus(texts, tokenizer, seed, data, context, $"--context {context}");
        var config = new GptConfig(tokenizer.VocabSize, context, width, layers, heads);
        var rows = new List<Row>();
        foreach (var s in structures)
        {
            bool relaxedNeedsIt = s.Name == "dense" && Wanted(RelaxedName);
            if (!Wanted(s.Name) && !relaxedNeedsIt) continue;
            var built = s.Build(config, new Generator(seed));
            var row = TrainAndMeasure(s.Name, s.Shape, built, corpus, steps, batch, context, lr, seed, log);
            if (Wanted(s.Name)) rows.Add(row);
            if (relaxedNeedsIt)
            {
                // The dense row's trained model, converted (2 loops, rank width / 8) and uptrained for a third of the steps.
                var options = new RelaxedRecursiveOptions(Loops: 2, Rank: Math.Max(1, width / 8));
                var gpt = (Gpt)built.Model;
                var peft = RelaxedRecursive.Convert(gpt, options)!;
                double converted = NamesAdaptation.ValidationLoss(peft, peft.Forward, corpus, context);
                log.WriteLine(FormattableString.Invariant($"{RelaxedName}: converted, validation loss {converted:F4} before uptraining"));
                rows.Add(TrainAndMeasure(RelaxedName, $"dense → {layers / options.Loops} blocks x {options.Loops}, LoRA r {options.Rank}, +{Math.Max(1, steps / 3)} steps",
                    new Built(peft, peft.Forward, gpt), corpus, Math.Max(1, steps / 3), batch, context, lr / 3, seed + 7, log));
            }
        }
        return rows;
    }

    static Built Plain(Gpt gpt) => new(gpt, gpt.Forward, gpt);

    // The nearest width that the heads divide.
    static int OfHeads(int width, int heads) => Math.Max(heads, (int)Math.Round(width / (double)heads) * heads);

    static Row TrainAndMeasure(string name, string shape, Built built, NamesCorpus corpus, int steps, int batch, int context, double lr, ulong seed, TextWriter log)
    {
        var model = built.Model;
        model.Train();
        var optimizer = new AdamW(WeightDecayGroups.Build(model, lr, 0.1), beta2: 0.99);
        var schedule = new WarmupCosineSchedule(Math.Min(100, steps / 10), steps, 0.1);
        var dataGenerator = new Generator(seed + 1);
        var clock = Stopwatch.StartNew();
        for (int step = 0; step < steps; step++)
        {
            LrScheduler.Apply(optimizer, schedule, step);
            var (x, y) = corpus.Batch(batch, context, dataGenerator);
            Tensor loss;
            using (var aux = AuxiliaryLosses.Collect())
                loss = Losses.CrossEntropy(built.Forward(x), y) + aux.Total();
            if (!double.IsFinite(loss.Item())) throw new TrainingDivergedException($"{name} training loss", step, loss.Item(), "Try a lower --lr.");
            optimizer.ZeroGrad();
            Autograd.Autograd.Backward(loss);
            built.AfterBackward?.Invoke();
            GradClip.ClipGradNorm(model.TrainableParameters(), 1.0);
            optimizer.Step();
        }
        double trainTokensPerSecond = (double)steps * batch * context / clock.Elapsed.TotalSeconds;
        double validation = NamesAdaptation.ValidationLoss(model, built.Forward, corpus, context);
        long parameters = model.ParameterCount();
        string? loads = Loads(model, built.Forward, corpus, context);
        built.BeforeGeneration?.Invoke();
        double generation = GenerationTokensPerSecond(built.Decoder, context);
        var row = new Row(name, shape, parameters, validation, trainTokensPerSecond, generation, loads);
        log.WriteLine(FormattableString.Invariant($"{name} ({shape}): {row.Parameters:N0} parameters, validation loss {validation:F4}, {trainTokensPerSecond:F0} training tokens/s, {generation:F0} generation tokens/s"));
        return row;
    }

    /// <summary>
    /// Each MoE layer's lowest and highest expert load against uniform (load · E) on a validation batch of 64 windows,
    /// or null for a model without experts (WideNet: each depth routes through its own view of the shared experts).
    /// </summary>
    static string? Loads(Module model, Func<Tensor, Tensor> forward, NamesCorpus corpus, int context)
    {
        if (!model.NamedModules().Any(m => m.Module is MoeFeedForward)) return null;
        model.Eval();
        using (Autograd.Autograd.NoGrad()) forward(corpus.Batch(64, context, new Generator(3), validation: true).Inputs);
        return string.Join(", ", MoeLoads.Of(model).Select(l =>
            string.Create(CultureInfo.InvariantCulture, $"{l.Loads.Min() * l.Loads.Length:F2}–{l.MaxOverUniform:F2}")));
    }

    /// <summary>Greedy KV-cached decoding of one sequence at a time from the boundary token to the context length.</summary>
    static double GenerationTokensPerSecond(IKvCacheModel decoder, int context)
    {
        ((Module)decoder).Eval();
        using var _ = Autograd.Autograd.NoGrad();
        const int sequences = 32;
        // One untimed sequence first: the first decode of a model pays for compiling its code paths.
        Stopwatch clock = new();
        long tokens = 0;
        for (int s = -1; s < sequences; s++)
        {
            if (s == 0) clock.Start();
            var cache = decoder.CreateCache();
            var next = Tensor.FromArray(new long[] { CharTokenizer.Boundary + Math.Abs(s) % 3 }, [1, 1]);
            for (int t = 0; t < context; t++)
            {
                var logits = decoder.Forward(next, cache);
                next = logits.Narrow(1, logits.Size(1) - 1, 1).ArgMax(-1);
                if (s >= 0) tokens++;
            }
        }
        return tokens / clock.Elapsed.TotalSeconds;
    }

    /// <summary>The rows as a markdown table.</summary>
    public static string Table(IReadOnlyList<Row> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| structure | shape | parameters | validation loss | training tokens/s | generation tokens/s |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|");
        foreach (var r in rows)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {r.Name} | {r.Shape} | {r.Parameters:N0} | {r.ValidationLoss:F4} | {r.TrainTokensPerSecond:F0} | {r.GenerationTokensPerSecond:F0} |"));
        foreach (var r in rows.Where(r => r.Loads is not null))
            sb.AppendLine().Append($"{r.Name}: expert loads / uniform per layer: {r.Loads}");
        return sb.ToString();
    }
}
