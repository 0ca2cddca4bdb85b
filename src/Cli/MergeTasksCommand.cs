using System.CommandLine;
using Engine.Nn;
using Engine.Peft;
using Engine.Peft.LowRank;
using Engine.Peft.Routed;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Cli;

/// <summary>
/// <c>engine merge-tasks</c>: FlyLoRA's claim of less interference when task adapters are merged (arXiv 2510.08396;
/// issue 17). Starting from a names model of <c>engine train</c>, for each method it trains one adapter on female names
/// and one on male names (as <c>engine finetune</c>: same steps, batch, schedule; the method's tuned rate), merges the
/// two (FlyLoRA: both from one seed, so one A, and B averaged, <see cref="FlyLoraTaskMerge"/>; LoRA: task arithmetic
/// with weight 0.5 each, 0.5 ΔW_female + 0.5 ΔW_male, PEFT's "cat" combination), and prints each task's validation loss
/// of its own single-task adapter and of the merged one; the difference is the interference.
/// </summary>
static class MergeTasksCommand
{
    static readonly string[] Tasks = ["female", "male"];

    /// <summary>What one method measured: the base loss, each single adapter's loss on its own task and the merged adapter's, per task.</summary>
    public sealed record Row(string Method, long TrainablePerTask, double[] Base, double[] Single, double[] Merged);

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "names model written by `engine train`", DefaultValueFactory = _ => TrainCommand.DefaultCheckpoint };
        var methods = new Option<string[]>("--adapter") { Description = "methods to compare: flylora, lora (repeatable)", DefaultValueFactory = _ => ["flylora", "lora"], Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = true };
        var steps = ValidatedOption.Integer("--steps", "optimiser steps per task adapter", 300, min: 1);
        var batch = ValidatedOption.Integer("--batch", "sequences per batch", 32, min: 1);
        var rank = ValidatedOption.Integer("--rank", "size of every adapter as its preset reads it", 8, min: 1);
        var seed = new Option<ulong>("--seed") { Description = "seed of data order and initialisation (FlyLoRA's A: one for both tasks)", DefaultValueFactory = _ => 1 };
        var command = new Command("merge-tasks", "female and male names as two tasks: one adapter per task, merged (FlyLoRA: B averaged over a shared A; LoRA: ΔW averaged); validation loss of each single adapter and of the merge");
        foreach (var o in new Option[] { checkpoint, methods, steps, batch, rank, seed }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(checkpoint)!, r.GetValue(methods)!, r.GetValue(steps), r.GetValue(batch), r.GetValue(rank), r.GetValue(seed), Console.Out));
        return command;
    }

    static int Run(string checkpointPath, string[] methods, int steps, int batch, int rank, ulong seed, TextWriter log)
    {
        foreach (var m in methods)
            if (m is not ("flylora" or "lora")) throw new ArgumentException($"--adapter {m}: merge-tasks compares flylora and lora");
        var rows = methods.Select(m => Compare(checkpointPath, m, steps, batch, rank, seed, log)).ToList();
        log.WriteLine();
        log.WriteLine(Table(rows));
        return 0;
    }

    /// <summary>Trains the two task adapters of <paramref name="method"/>, merges them and measures; progress lines go to <paramref name="log"/>.</summary>
    public static Row Compare(string checkpointPath, string method, int steps, int batch, int rank, ulong seed, TextWriter log)
    {
        var config = NamesAdaptation.ConfigFor(method, rank, steps, seed, new Dictionary<string, string>())!;
        var (gpt, tokenizer, _) = NamesModelFile.Load(checkpointPath);
        int context = gpt.Config.ContextLength;
        var corpora = Tasks.Select(t => NamesData.Corpus(EmbeddedData.Load(t), tokenizer, seed, t, context, $"the model's context of {context} tokens")).ToArray();
        var peft = PeftApi.Apply(gpt, config, adapterName: Tasks[0]);
        long trainable = peft.ParameterCount(trainableOnly: true);
        for (int i = 1; i < Tasks.Length; i++) peft.AddAdapter(Tasks[i], config);
        double[] baseLoss;
        using (peft.DisableAdapters()) baseLoss = corpora.Select(c => Validation(peft, c, context)).ToArray();
        var single = new double[Tasks.Length];
        for (int i = 0; i < Tasks.Length; i++)
        {
            peft.SetAdapter(Tasks[i]);
            var generator = new Generator(seed + 1);
            var corpus = corpora[i];
            var optimizer = new AdamW(peft.TrainableParameters(), lr: FinetuneCommand.TunedLearningRate(method), weightDecay: 0);
            var options = new TrainerOptions(steps, new WarmupCosineSchedule(Math.Min(50, steps / 10), steps, 0.1), MaxGradNorm: 1.0, TokensPerStep: (long)batch * context);
            new Trainer(peft, optimizer, options).Run(TrainingDivergedException.Guard(_ =>
            {
                var (x, y) = corpus.Batch(batch, context, generator);
                return Losses.CrossEntropy(peft.Forward(x), y);
            }, () => $"{method} diverged at its tuned learning rate"));
            single[i] = Validation(peft, corpus, context);
            log.WriteLine(FormattableString.Invariant($"{method} ({Tasks[i]} only): {Tasks[i]} {baseLoss[i]:F4} -> {single[i]:F4}"));
        }
        if (method == "flylora") peft.AddMergedAdapter(Tasks, "merged");
        else peft.AddWeightedAdapter(Tasks, Tasks.Select(_ => 1.0 / Tasks.Length).ToList(), "merged", LoraCombinationType.Cat);
        peft.SetAdapter("merged");
        var merged = corpora.Select(c => Validation(peft, c, context)).ToArray();
        log.WriteLine(FormattableString.Invariant($"{method} merged: {string.Join(", ", Tasks.Select((t, i) => $"{t} {merged[i]:F4}"))}"));
        return new Row(method, trainable, baseLoss, single, merged);
    }

    static double Validation(PeftModel peft, NamesCorpus corpus, int context) => NamesAdaptation.ValidationLoss(peft, peft.Forward, corpus, context);

    /// <summary>The table: per method and task, the base loss, the single-task adapter's, the merged adapter's and the increase (interference).</summary>
    public static string Table(IReadOnlyList<Row> rows)
    {
        var lines = new List<string>
        {
            "| method | trainable per task | " + string.Join(" | ", Tasks.Select(t => $"{t}: base / single / merged (increase)")) + " | mean increase |",
            "|---|---:|" + string.Concat(Tasks.Select(_ => "---:|")) + "---:|",
        };
        foreach (var r in rows)
            lines.Add(FormattableString.Invariant($"| {r.Method} | {r.TrainablePerTask:N0} | ")
                + string.Join(" | ", Tasks.Select((_, i) => FormattableString.Invariant($"{r.Base[i]:F4} / {r.Single[i]:F4} / {r.Merged[i]:F4} ({r.Merged[i] - r.Single[i]:+0.0000;-0.0000})")))
                + FormattableString.Invariant($" | {Tasks.Select((_, i) => r.Merged[i] - r.Single[i]).Average():F4} |"));
        return string.Join(Environment.NewLine, lines);
    }
}
