using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Engine.Nn;
using Engine.Peft;
using Engine.Peft.Multitask;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Cli;

/// <summary>
/// <c>engine multitask</c>: the names data as two tasks (female = task 0, male = task 1). Starting from a names model of
/// <c>engine train</c>, it trains Poly (n_tasks 2), multitask prompt tuning (num_tasks 2) and KIND (n_classes 2) once on mixed batches (half
/// of each task, every example carrying its task id: <see cref="TaskIds"/>), and one LoRA per task on that task's names
/// alone, every model with the same steps, batch size and schedule as <c>engine finetune</c>, each method at its tuned
/// learning rate; then prints, per method, the trainable parameters and each task's validation loss before and after.
/// All models read windows of the same length (the context less the prompt's virtual tokens), so the losses compare.
/// </summary>
static class MultitaskCommand
{
    /// <summary>The tasks: their names, the embedded data set of each, and their ids.</summary>
    public static readonly (string Name, int Id)[] Tasks = [("female", 0), ("male", 1)];

    /// <summary>One row of the table: a method, its trainable parameters, and per task (in <see cref="Tasks"/> order) the validation loss before and after.</summary>
    public sealed record Row(string Method, long Trainable, double[] Before, double[] After, double Seconds);

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "names model written by `engine train`", DefaultValueFactory = _ => TrainCommand.DefaultCheckpoint };
        var steps = ValidatedOption.Integer("--steps", "optimiser steps of every trained model", 300, min: 1);
        var batch = ValidatedOption.Integer("--batch", "sequences per batch (the multi-task methods: half of each task)", 32, min: 2);
        var rank = ValidatedOption.Integer("--rank", "size of every adapter as its preset reads it: LoRA's and Poly's rank, the prompt's virtual tokens", 8, min: 1);
        var seed = new Option<ulong>("--seed") { Description = "seed of data order and initialisation", DefaultValueFactory = _ => 1 };
        var command = new Command("multitask", "female and male names as two tasks: Poly and multitask prompt tuning trained once on both (with task ids) against one LoRA per task; per-task validation loss");
        foreach (var o in new Option[] { checkpoint, steps, batch, rank, seed }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(checkpoint)!, r.GetValue(steps), r.GetValue(batch), r.GetValue(rank), r.GetValue(seed), Console.Out));
        return command;
    }

    static int Run(string checkpointPath, int steps, int batch, int rank, ulong seed, TextWriter log)
    {
        var gptConfig = NamesModelFile.ReadConfig(checkpointPath);
        MemoryEstimate.Require(MemoryEstimate.Gpt(gptConfig, batch, gptConfig.ContextLength, training: true) + MemoryEstimate.Adapter(gptConfig, rank, batch, gptConfig.ContextLength),
            $"--rank {rank} with --batch {batch} on the model of '{checkpointPath}'", "lower --rank or --batch");
        var rows = Compare(checkpointPath, steps, batch, rank, seed, log);
        log.WriteLine();
        log.WriteLine(Table(rows));
        return 0;
    }

    /// <summary>Trains and measures every method (Poly, multitask prompt tuning, one LoRA per task); progress lines go to <paramref name="log"/>.</summary>
    public static IReadOnlyList<Row> Compare(string checkpointPath, int steps, int batch, int rank, ulong seed, TextWriter log)
    {
        var preset = AdapterPreset.ForTransformer(rank, steps, seed);
        var poly = PolyConfig.Preset(preset) with { NTasks = Tasks.Length, DefaultTaskId = null };
        var mpt = MultitaskPromptTuningConfig.Preset(preset) with { NumTasks = Tasks.Length, DefaultTaskId = null };
        var (probe, tokenizer, _) = NamesModelFile.Load(checkpointPath);
        // Every model reads windows of one length: the context less the prompt's virtual tokens.
        int context = probe.Config.ContextLength - mpt.NumVirtualTokens;
        if (context < 2) throw new ArgumentException($"--rank {rank} virtual tokens leave no room in the model's context of {probe.Config.ContextLength}; lower --rank");
        var corpora = Tasks.Select(t => NamesData.Corpus(EmbeddedData.Load(t.Name), tokenizer, seed, t.Name, context, $"a context of {context} tokens")).ToArray();
        log.WriteLine($"tasks: {string.Join(", ", Tasks.Select((t, i) => $"{t.Id} = {t.Name} ({corpora[i].TrainTexts.Count} train, {corpora[i].ValidationTexts.Count} validation names)"))}; " +
            $"{steps} steps of {batch} windows of {context} tokens per model");

        var rows = new List<Row>
        {
            MultiTask("poly", poly, checkpointPath, corpora, context, steps, batch, seed, log),
            MultiTask("multitask_prompt", mpt, checkpointPath, corpora, context, steps, batch, seed, log),
            // KIND (issue 17): shared learngenes, one block of tailors per task (class).
            MultiTask("kind", Engine.Peft.Kind.KindConfig.Preset(preset) with { NClasses = Tasks.Length, DefaultTaskId = null }, checkpointPath, corpora, context, steps, batch, seed, log),
            // VL-Adapter (issue 18): one adapter shared by both tasks (the paper's best setting), and one per task (twice the parameters).
            MultiTask("vl_adapter", Engine.Peft.Inserted.VlAdapterConfig.Preset(preset) with { NTasks = Tasks.Length }, checkpointPath, corpora, context, steps, batch, seed, log),
            MultiTask("vl_adapter (per task)", Engine.Peft.Inserted.VlAdapterConfig.Preset(preset) with { NTasks = Tasks.Length, UseSingleAdapter = false },
                checkpointPath, corpora, context, steps, batch, seed, log, rateOf: "vl_adapter"),
            // Polyhistor (issue 18): one shared hypernetwork, a task embedding per task; Lite with templates of width 8.
            MultiTask("polyhistor", Engine.Peft.Multitask.PolyhistorConfig.Preset(preset) with { NTasks = Tasks.Length, DefaultTaskId = null }, checkpointPath, corpora, context, steps, batch, seed, log),
            MultiTask("polyhistor-lite", Engine.Peft.Multitask.PolyhistorConfig.Preset(preset) with { NTasks = Tasks.Length, DefaultTaskId = null, TemplateSize = 8 }, checkpointPath, corpora, context, steps, batch, seed, log),
        };
        // One LoRA per task, each on its own task's names only.
        var lora = NamesAdaptation.ConfigFor("lora", rank, steps, seed, new Dictionary<string, string>())!;
        var single = Tasks.Select((t, i) => SingleTask(lora, checkpointPath, corpora[i], context, steps, batch, seed, log, t.Name)).ToArray();
        rows.Add(new Row("lora (one per task)", single.Sum(s => s.Trainable), single.Select(s => s.Before).ToArray(), single.Select(s => s.After).ToArray(), single.Sum(s => s.Seconds)));
        return rows;
    }

    // Poly or multitask prompt tuning, trained once on batches of both tasks, each example with its task id.
    static Row MultiTask(string method, PeftConfig config, string checkpointPath, NamesCorpus[] corpora, int context, int steps, int batch, ulong seed, TextWriter log,
        string? rateOf = null)
    {
        var (gpt, _, _) = NamesModelFile.Load(checkpointPath);
        var peft = PeftApi.Apply(gpt, config);
        var before = corpora.Select((c, task) => Validation(peft, c, context, task)).ToArray();
        var generator = new Generator(seed + 1);
        int half = batch / 2;
        var ids = Enumerable.Repeat(0, half).Concat(Enumerable.Repeat(1, batch - half)).ToArray();
        var watch = Stopwatch.StartNew();
        Train(peft, rateOf ?? method, steps, batch, context, _ =>
        {
            var (x0, y0) = corpora[0].Batch(half, context, generator);
            var (x1, y1) = corpora[1].Batch(batch - half, context, generator);
            using (peft.TaskScope(ids)) return Engine.Nn.Losses.CrossEntropy(peft.Forward(Tensor.Concat([x0, x1], 0)), Tensor.Concat([y0, y1], 0));
        });
        var after = corpora.Select((c, task) => Validation(peft, c, context, task)).ToArray();
        log.WriteLine(FormattableString.Invariant($"{method}: {LossChange(before, after)} ({watch.Elapsed.TotalSeconds:F0} s)"));
        return new Row(method, peft.ParameterCount(trainableOnly: true), before, after, watch.Elapsed.TotalSeconds);
    }

    // A LoRA trained on one task's names alone; its validation loss is measured on that task.
    static (long Trainable, double Before, double After, double Seconds) SingleTask(PeftConfig config, string checkpointPath, NamesCorpus corpus, int context, int steps, int batch, ulong seed,
        TextWriter log, string task)
    {
        var (gpt, _, _) = NamesModelFile.Load(checkpointPath);
        var peft = PeftApi.Apply(gpt, config);
        double before = Validation(peft, corpus, context, null);
        var generator = new Generator(seed + 1);
        var watch = Stopwatch.StartNew();
        Train(peft, "lora", steps, batch, context, _ =>
        {
            var (x, y) = corpus.Batch(batch, context, generator);
            return Engine.Nn.Losses.CrossEntropy(peft.Forward(x), y);
        });
        double after = Validation(peft, corpus, context, null);
        log.WriteLine(FormattableString.Invariant($"lora ({task} only): {task} {before:F4} -> {after:F4} ({watch.Elapsed.TotalSeconds:F0} s)"));
        return (peft.ParameterCount(trainableOnly: true), before, after, watch.Elapsed.TotalSeconds);
    }

    // As engine finetune: AdamW without weight decay at the method's tuned rate, warm-up + cosine, clipping at 1.
    static void Train(PeftModel peft, string method, int steps, int batch, int context, Func<int, Tensor> loss)
    {
        var optimizer = new AdamW(peft.ParamGroups(FinetuneCommand.TunedLearningRate(method), 0));
        var options = new TrainerOptions(steps, new WarmupCosineSchedule(Math.Min(50, steps / 10), steps, 0.1), MaxGradNorm: 1.0, TokensPerStep: (long)batch * context);
        new Trainer(peft, optimizer, options).Run(TrainingDivergedException.Guard(loss, () => $"{method} diverged at its tuned learning rate"));
    }

    // The mean validation cross-entropy of one task's names, every window routed to task (null: no task ids).
    static double Validation(PeftModel peft, NamesCorpus corpus, int context, int? task)
    {
        using var scope = task is { } t ? peft.TaskScope(t) : null;
        return NamesAdaptation.ValidationLoss(peft, peft.Forward, corpus, context);
    }

    static string LossChange(double[] before, double[] after) =>
        string.Join(", ", Tasks.Select((t, i) => FormattableString.Invariant($"{t.Name} {before[i]:F4} -> {after[i]:F4}")));

    /// <summary>The table: method, trainable parameters, and per task the validation loss before → after.</summary>
    public static string Table(IReadOnlyList<Row> rows)
    {
        var lines = new List<string>
        {
            "| method | trainable params | " + string.Join(" | ", Tasks.Select(t => $"{t.Name} val loss before → after")) + " | train time (s) |",
            "|---|---:|" + string.Concat(Tasks.Select(_ => "---:|")) + "---:|",
        };
        foreach (var r in rows)
            lines.Add(FormattableString.Invariant($"| {r.Method} | {r.Trainable:N0} | ") + string.Join(" | ", Tasks.Select((_, i) => FormattableString.Invariant($"{r.Before[i]:F4} → {r.After[i]:F4}")))
                + FormattableString.Invariant($" | {r.Seconds:F0} |"));
        return string.Join(Environment.NewLine, lines);
    }
}
