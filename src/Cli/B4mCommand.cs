using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Engine.Nn;
using Engine.Peft;
using Engine.Peft.LowRank;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Cli;

/// <summary>
/// <c>engine b4m</c>: Break-for-Make (spec seeds-remaining.md §2) on the names GPT. Content = names starting with k,
/// style = names ending in a; the names that are both are never trained on (<see cref="B4mNames"/>). It compares, over
/// sampled names, how often the model makes the unseen composition (starts with k and ends in a) and the NLL of the
/// held-out k…a names, for (i) two ordinary LoRAs (content, style) applied together (ΔW_c + ΔW_s), (ii) one LoRA on
/// the union, (iii) B4M's make of two PLP LoRA break runs, (iv) make + stage 2 (AdamWr on content + style loss).
/// The names GPT's vocabulary has no spare tokens for the paper's prompts ("&lt;c&gt;", "&lt;s&gt;"), so conditioning
/// is by the adapters alone: each run's data is its condition, and every model samples unprompted.
/// </summary>
static class B4mCommand
{
    /// <summary>One row of the table.</summary>
    public sealed record Row(string Method, long Trainable, int Steps, double StartsWithK, double EndsWithA, double Both, double HeldOutNll, double Seconds);

    /// <summary>What a run is given.</summary>
    public sealed record Settings(string Checkpoint, int Steps, int Stage2Steps, int Batch, int Rank, double Lr, double Delta, int Samples, ulong Seed, bool AsReleased, bool OrthAllModules = false);

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "names model written by `engine train`", DefaultValueFactory = _ => TrainCommand.DefaultCheckpoint };
        var steps = ValidatedOption.Integer("--steps", "steps of each training run (each break run, each LoRA; the union LoRA gets twice as many)", 200, min: 1);
        var stage2 = ValidatedOption.Integer("--stage2-steps", "steps of B4M's stage 2 (AdamWr on content + style loss)", 100, min: 1);
        var batch = ValidatedOption.Integer("--batch", "sequences per batch (each auxiliary set gets a third)", 16, min: 3);
        var rank = ValidatedOption.Integer("--rank", "rank of every adapter", 8, min: 1);
        var lr = ValidatedOption.Positive("--lr", "rate of the LoRAs, of each break run's own half and of stage 2 (constant; the auxiliary half gets a tenth, as the reference's 1e-4 / 1e-5)", 1e-2);
        var delta = ValidatedOption.NonNegative("--delta", "AdamWr's ridge δ in (BᵀB + δI)⁻¹ (the reference's optimizer_reg)", 0);
        var samples = ValidatedOption.Integer("--samples", "names sampled from each model", 1000, min: 1, max: 10_000);
        var seed = new Option<ulong>("--seed") { Description = "seed of data order, initialisation and sampling", DefaultValueFactory = _ => 1 };
        var released = new Option<bool>("--as-released") { Description = "break runs as the released loop (each optimiser clears only its own factor's gradient) instead of the clean form" };
        var orthAll = new Option<bool>("--orth-all-modules") { Description = "PLP's orthogonal frozen halves on every module (the engine's extension), not only where in = out (the reference's rule; the GPT's fused qkv is [3d, d])" };
        var quick = new Option<bool>("--quick") { Description = "a check that runs in seconds: 3 steps per run, batch 3, 20 samples (overrides those options)" };
        var command = new Command("b4m", "Break-for-Make on names: content K…, style …a; two LoRAs vs one LoRA vs B4M make (+ stage 2) on the unseen K…a composition");
        foreach (var o in new Option[] { checkpoint, steps, stage2, batch, rank, lr, delta, samples, seed, released, orthAll, quick }) command.Options.Add(o);
        command.SetAction(r =>
        {
            bool q = r.GetValue(quick);
            var s = new Settings(r.GetValue(checkpoint)!, q ? 3 : r.GetValue(steps), q ? 3 : r.GetValue(stage2), q ? 3 : r.GetValue(batch), r.GetValue(rank),
                r.GetValue(lr), r.GetValue(delta), q ? 20 : r.GetValue(samples), r.GetValue(seed), r.GetValue(released), r.GetValue(orthAll));
            return Run(s, Console.Out);
        });
        return command;
    }

    static int Run(Settings s, TextWriter log)
    {
        var gptConfig = NamesModelFile.ReadConfig(s.Checkpoint);
        MemoryEstimate.Require(MemoryEstimate.Gpt(gptConfig, Math.Max(s.Batch, s.Samples), gptConfig.ContextLength, training: true) + MemoryEstimate.Adapter(gptConfig, s.Rank, s.Batch, gptConfig.ContextLength),
            $"--rank {s.Rank} with --batch {s.Batch} and --samples {s.Samples} on the model of '{s.Checkpoint}'", "lower them");
        var clock = Stopwatch.StartNew();
        var rows = Compare(s, log);
        log.WriteLine();
        log.WriteLine(Table(rows, s.Samples));
        log.WriteLine(FormattableString.Invariant($"total time: {clock.Elapsed.TotalSeconds:F0} s"));
        return 0;
    }

    /// <summary>Trains and measures the base, (i)–(iv); progress lines go to <paramref name="log"/>.</summary>
    public static IReadOnlyList<Row> Compare(Settings s, TextWriter log)
    {
        var (probe, tokenizer, _) = NamesModelFile.Load(s.Checkpoint);
        int context = probe.Config.ContextLength;
        var names = B4mNames.From(EmbeddedData.Load("all"), tokenizer);
        log.WriteLine($"content K…: {names.Content.Count} names; style …a: {names.Style.Count}; held out K…a (never trained on): {names.HeldOut.Count}" +
            (names.Unencodable > 0 ? $"; {names.Unencodable} names outside the checkpoint's vocabulary left out" : ""));
        log.WriteLine($"auxiliary style sets (content run): {string.Join(", ", names.AuxiliaryStyles.Select(a => $"{a.Label} {a.Names.Count}"))}; " +
            $"auxiliary content sets (style run): {string.Join(", ", names.AuxiliaryContents.Select(a => $"{a.Label} {a.Names.Count}"))}");
        log.WriteLine("conditioning: by the adapters alone (the names vocabulary has no spare tokens for prompt tokens); every model samples unprompted");
        NamesCorpus Corpus(IReadOnlyList<string> set, string label) => NamesData.Corpus(set, tokenizer, s.Seed, label, context, $"the model's context of {context} tokens");
        var content = Corpus(names.Content, "content");
        var style = Corpus(names.Style, "style");
        var union = Corpus([.. names.Content, .. names.Style], "content + style");
        var auxStyles = names.AuxiliaryStyles.Select(a => Corpus(a.Names, a.Label)).ToArray();
        var auxContents = names.AuxiliaryContents.Select(a => Corpus(a.Names, a.Label)).ToArray();
        var data = new Generator(s.Seed + 1);
        Tensor LossOn(Gpt gpt, NamesCorpus corpus, int batch)
        {
            var (x, y) = corpus.Batch(batch, context, data);
            return Losses.CrossEntropy(gpt.Forward(x), y);
        }
        // The reference's multi-correspondence: the mean of the auxiliary sets' losses, each on a third of the batch.
        Tensor Auxiliary(Gpt gpt, NamesCorpus[] sets) => sets.Select(c => LossOn(gpt, c, Math.Max(1, s.Batch / sets.Length))).Aggregate((a, b) => a + b) / sets.Length;

        var rows = new List<Row> { Measure("base (no adapter)", probe, 0, 0, 0, names, tokenizer, s) };

        // (i) and (ii): ordinary LoRAs (the zoo's preset: rank, α = 2 rank, every block projection), AdamW with the break runs' decay, constant rate.
        var (loraGpt, _, _) = NamesModelFile.Load(s.Checkpoint);
        var lora = (LoraConfig)NamesAdaptation.ConfigFor("lora", s.Rank, s.Steps, s.Seed, new Dictionary<string, string>())!;
        var loras = PeftApi.Apply(loraGpt, lora, "content");
        loras.AddAdapter("style", lora);
        loras.AddAdapter("union", lora);
        double TrainLora(string adapter, NamesCorpus corpus, int steps)
        {
            var watch = Stopwatch.StartNew();
            loras.SetAdapter(adapter);
            var options = new TrainerOptions(steps, MaxGradNorm: 1.0);
            new Trainer(loras, new AdamW(loras.ParamGroups(s.Lr, 1e-2)), options).Run(TrainingDivergedException.Guard(_ => LossOn(loraGpt, corpus, s.Batch), () => "Try a lower --lr."));
            log.WriteLine(FormattableString.Invariant($"LoRA '{adapter}': {steps} steps, {watch.Elapsed.TotalSeconds:F0} s"));
            return watch.Elapsed.TotalSeconds;
        }
        double seconds = TrainLora("content", content, s.Steps) + TrainLora("style", style, s.Steps);
        loras.SetAdapter("content", "style");
        rows.Add(Measure("(i) LoRA_c + LoRA_s (ΔW_c + ΔW_s)", loraGpt, 2 * Trainable(loras, "content"), 2 * s.Steps, seconds, names, tokenizer, s));
        seconds = TrainLora("union", union, 2 * s.Steps);
        loras.SetAdapter("union");
        rows.Add(Measure("(ii) one LoRA on the union", loraGpt, Trainable(loras, "union"), 2 * s.Steps, seconds, names, tokenizer, s));

        // (iii) and (iv): B4M. The two runs share one initialisation (init_name), as the reference's two seed-0 runs.
        var (b4mGpt, _, _) = NamesModelFile.Load(s.Checkpoint);
        var plp = PlpLoraConfig.Preset(AdapterPreset.ForTransformer(s.Rank, s.Steps, s.Seed)) with { InitName = "b4m", OrthAllModules = s.OrthAllModules };
        var b4m = PeftApi.Apply(b4mGpt, plp, "content");
        foreach (var name in new[] { "style", "make", "refined" }) b4m.AddAdapter(name, plp);
        var watchBreak = Stopwatch.StartNew();
        var breakOptions = new BreakOptions(s.Steps, Lr: s.Lr, AuxiliaryLr: s.Lr / 10, AsReleased: s.AsReleased);
        var (c1, c2) = BreakForMake.Break(b4m, "content", BreakRun.Content, _ => LossOn(b4mGpt, content, s.Batch), _ => Auxiliary(b4mGpt, auxStyles), breakOptions);
        var (s1, s2) = BreakForMake.Break(b4m, "style", BreakRun.Style, _ => LossOn(b4mGpt, style, s.Batch), _ => Auxiliary(b4mGpt, auxContents), breakOptions);
        double breakSeconds = watchBreak.Elapsed.TotalSeconds;
        log.WriteLine(FormattableString.Invariant($"break runs ({(s.AsReleased ? "as released" : "clean")}): content {c1:F3} / auxiliary styles {c2:F3}; style {s1:F3} / auxiliary contents {s2:F3}; {breakSeconds:F0} s"));
        BreakForMake.Make(b4m, "make", b4m, "style", b4m, "content");
        b4m.SetAdapter("make");
        // Each break run trains both halves (its own and, slowly, the other); the made adapter keeps one of each.
        long plpTrainable = Trainable(b4m, "make");
        rows.Add(Measure("(iii) B4M make", b4mGpt, 2 * plpTrainable, 2 * s.Steps, breakSeconds, names, tokenizer, s));
        BreakForMake.Make(b4m, "refined", b4m, "style", b4m, "content");
        b4m.SetAdapter("refined");
        var watchStage2 = Stopwatch.StartNew();
        new Trainer(b4m, BreakForMake.RefineOptimizer(b4m, "refined", s.Lr, 1e-2, s.Delta), new TrainerOptions(s.Stage2Steps, MaxGradNorm: 1.0))
            .Run(TrainingDivergedException.Guard(_ => LossOn(b4mGpt, content, Math.Max(1, s.Batch / 2)) + LossOn(b4mGpt, style, Math.Max(1, s.Batch / 2)), () => "Try a lower --lr or a positive --delta."));
        log.WriteLine(FormattableString.Invariant($"stage 2 (AdamWr, δ = {s.Delta}): {s.Stage2Steps} steps, {watchStage2.Elapsed.TotalSeconds:F0} s"));
        rows.Add(Measure("(iv) B4M make + stage 2", b4mGpt, 2 * plpTrainable, 2 * s.Steps + s.Stage2Steps, breakSeconds + watchStage2.Elapsed.TotalSeconds, names, tokenizer, s));
        return rows;
    }

    static long Trainable(PeftModel peft, string adapter) => peft.NamedAdapterTensors(adapter).Where(t => t.Trainable).Sum(t => t.Tensor.Numel);

    // Samples (one batch, the same generator seed for every model) and the held-out NLL, in evaluation mode.
    static Row Measure(string method, Gpt gpt, long trainable, int steps, double seconds, B4mNames names, CharTokenizer tokenizer, Settings s)
    {
        gpt.Eval();
        using var _ = Autograd.Autograd.NoGrad();
        var sampled = SampleCommand.Sample(gpt, tokenizer, s.Samples, new SamplingOptions(), "", new Generator(s.Seed + 7)).ToList();
        double Fraction(Func<string, bool> f) => sampled.Count(f) / (double)sampled.Count;
        return new Row(method, trainable, steps, Fraction(B4mNames.StartsWithK), Fraction(B4mNames.EndsWithA),
            Fraction(n => B4mNames.StartsWithK(n) && B4mNames.EndsWithA(n)), HeldOutNll(gpt, tokenizer, names.HeldOut), seconds);
    }

    /// <summary>Mean NLL (nats per predicted token) of each name after the boundary, its characters and the closing boundary.</summary>
    public static double HeldOutNll(Gpt gpt, CharTokenizer tokenizer, IReadOnlyList<string> heldOut)
    {
        double total = 0;
        long count = 0;
        foreach (var name in heldOut)
        {
            var ids = new[] { CharTokenizer.Boundary }.Concat(tokenizer.Encode(name)).Append(CharTokenizer.Boundary).Select(i => (long)i).ToArray();
            int t = Math.Min(ids.Length - 1, gpt.Config.ContextLength);
            var x = Tensor.FromArray(ids[..t], [1, t]);
            var y = Tensor.FromArray(ids[1..(t + 1)], [1, t]);
            total += Losses.CrossEntropy(gpt.Forward(x), y).Item() * t;
            count += t;
        }
        return total / count;
    }

    /// <summary>The Markdown table of <paramref name="rows"/>.</summary>
    public static string Table(IReadOnlyList<Row> rows, int samples)
    {
        var lines = new List<string>
        {
            $"| method | params trained (all runs) | steps (all runs) | K… of {samples} samples | …a | K…a (both) | held-out K…a NLL (nats/char) | train time (s) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        };
        foreach (var r in rows)
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Method} | {r.Trainable:N0} | {r.Steps} | {r.StartsWithK:P1} | {r.EndsWithA:P1} | {r.Both:P1} | {r.HeldOutNll:F4} | {r.Seconds:F0} |"));
        return string.Join("\n", lines);
    }
}
