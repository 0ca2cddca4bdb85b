using System.CommandLine;
using System.Globalization;
using Engine.Nn;
using Engine.Nn.Checkpoints;
using Engine.Nn.Merging;

namespace Engine.Cli;

/// <summary>
/// <c>engine merge</c>: merges names models fine-tuned from one base (<c>engine finetune --adapter full</c>) with the
/// state-dict merges of issue 20 (<see cref="StateDictMerges"/>: task arithmetic, TIES, DARE, magnitude pruning, ...)
/// and prints, per <c>--eval</c> set, the validation loss of the base, of each fine-tuned model and of each merge
/// (<c>--method all</c>: every registered method, one row each). <c>--out</c> writes the merged model as a names
/// checkpoint (base configuration and vocabulary) that sample, generate and finetune read.
/// <code>engine merge --base base.safetensors --models female male --method all</code>
/// </summary>
static class MergeCommand
{
    /// <summary>The <c>--method</c> value that runs every registered method.</summary>
    public const string All = "all";

    /// <summary>One row of the table: what was evaluated, its density where the method has one, and its loss per eval set.</summary>
    public sealed record Row(string Model, string Density, double[] Losses);

    public static Command Create()
    {
        var baseOption = new Option<string>("--base") { Description = "the names checkpoint the models were fine-tuned from (`engine train --out FILE`)", Required = true };
        var models = new Option<string[]>("--models") { Description = "fine-tuned names checkpoints (a file, or a folder of `engine finetune --adapter full --out DIR`)", Required = true, Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = true };
        var method = new Option<string>("--method") { Description = $"merge method: {string.Join(", ", StateDictMerges.All.Select(e => e.Name))}, or {All} (one row each)", DefaultValueFactory = _ => All };
        // One line naming the known methods (AcceptOnlyFromAmong would list them one per line).
        method.Validators.Add(r =>
        {
            string name = r.GetValueOrDefault<string>();
            if (name != All && StateDictMerges.All.All(e => e.Name != name))
                r.AddError($"--method '{name}' is not a merge method; known: {string.Join(", ", StateDictMerges.All.Select(e => e.Name))}, or {All}");
        });
        var weights = new Option<double[]?>("--weights") { Description = "λ per model, in --models order (default: the method's, 1 each)", Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = true };
        weights.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double[]?>() is { } w && w.Any(v => !double.IsFinite(v))) r.AddError("--weights must be finite numbers");
        });
        var density = ValidatedOption.OptionalNumber("--density", "fraction of each task vector kept by the pruning methods (default: the method's, 0.2 for TIES/DARE)", 0, 1);
        var sign = new Option<string>("--majority-sign") { Description = "TIES' sign election: total (sign of the sum) or frequency (sign held by more models)", DefaultValueFactory = _ => "total" };
        sign.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string>() is not ("total" or "frequency")) r.AddError($"--majority-sign must be total or frequency, got '{r.GetValueOrDefault<string>()}'");
        });
        var seed = new Option<ulong>("--seed") { Description = "seed of DARE's drop masks and of the names' validation split (as `engine finetune --seed`)", DefaultValueFactory = _ => 1 };
        var eval = new Option<string[]>("--eval") { Description = "names whose validation split measures each model: female, male, all or a file (repeatable)", DefaultValueFactory = _ => ["female", "male"], Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = true };
        var output = ValidatedOption.OptionalOutputFile("--out", "write the merged model here as a names checkpoint (one --method only)");
        var command = new Command("merge", "merge names models fine-tuned from one base (task arithmetic, TIES, DARE, ...) and compare validation losses");
        foreach (var o in new Option[] { baseOption, models, method, weights, density, sign, seed, eval, output }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(baseOption)!, r.GetValue(models)!, r.GetValue(method)!, r.GetValue(weights), r.GetValue(density),
            r.GetValue(sign) == "frequency" ? MajoritySignMethod.Frequency : MajoritySignMethod.Total, r.GetValue(seed), r.GetValue(eval)!, r.GetValue(output), Console.Out));
        return command;
    }

    static int Run(string basePath, string[] modelPaths, string method, double[]? weights, double? density, MajoritySignMethod sign, ulong seed, string[] evalSets, string? outPath, TextWriter log)
    {
        // Everything the user can get wrong is checked before any merge runs. An absent --weights reads as empty.
        if (weights is { Length: 0 }) weights = null;
        if (method == All && outPath is not null) throw new ArgumentException($"--out writes one merged model; give one --method, not {All}");
        if (weights is not null && weights.Length != modelPaths.Length)
            throw new ArgumentException($"--weights has {weights.Length} value(s) for {modelPaths.Length} --models; give one per model");
        basePath = CheckpointFile(basePath, "--base");
        modelPaths = modelPaths.Select(p => CheckpointFile(p, "--models")).ToArray();
        var (baseGpt, tokenizer, baseInfo) = NamesModelFile.Load(basePath);
        var baseState = baseGpt.StateDict();
        var models = new List<IReadOnlyDictionary<string, Tensor>>();
        foreach (var path in modelPaths)
        {
            var (gpt, _, info) = NamesModelFile.Load(path);
            foreach (var key in new[] { NamesModelFile.ConfigKey, NamesModelFile.VocabularyKey })
                if (info.Values[key] != baseInfo.Values[key])
                    throw new ArgumentException($"--models '{path}' was not fine-tuned from --base '{basePath}': its {key} differs");
            models.Add(gpt.StateDict());
        }
        int context = baseGpt.Config.ContextLength;
        var corpora = evalSets.Select(s => NamesData.Corpus(EmbeddedData.Load(s), tokenizer, seed, s, context, $"the model's context of {context} tokens")).ToArray();
        var scratch = new Gpt(baseGpt.Config);
        double[] Losses(IReadOnlyDictionary<string, Tensor> state)
        {
            scratch.LoadStateDict(state);
            return corpora.Select(c => NamesAdaptation.ValidationLoss(scratch, scratch.Forward, c, context)).ToArray();
        }

        var options = new MergeOptions(weights, density, sign, seed, state => Losses(state).Average());
        var rows = new List<Row> { new($"base: {Label(basePath)}", "", Losses(baseState)) };
        rows.AddRange(modelPaths.Select((p, i) => new Row($"model: {Label(p)}", "", Losses(models[i]))));
        Dictionary<string, Tensor>? merged = null;
        foreach (var entry in method == All ? StateDictMerges.All : [StateDictMerges.ByName(method)])
        {
            var merge = entry.Create(options);
            merged = merge.Merge(baseState, models);
            string used = Setting(merge, density);
            rows.Add(new Row($"merged: {entry.Name}", used, Losses(merged)));
        }
        log.WriteLine(Table(rows, evalSets));
        if (outPath is not null)
        {
            scratch.LoadStateDict(merged!);
            var names = baseInfo.Values.Where(v => v.Key is NamesModelFile.ConfigKey or NamesModelFile.VocabularyKey).ToDictionary(v => v.Key, v => v.Value);
            OutputPath.PrepareFile(outPath);
            TrainingCheckpoint.Save(outPath, scratch, optimizer: null, step: 0, values: names);
            log.WriteLine($"saved: {outPath} (a names checkpoint: engine sample --checkpoint {outPath})");
        }
        return 0;
    }

    /// <summary>What the method's density column shows: the fraction kept, PCB's searched ratio and λ, or nothing for methods without one.</summary>
    static string Setting(IStateDictMerge merge, double? density)
    {
        static string F(double x) => x.ToString("0.###", CultureInfo.InvariantCulture);
        return merge switch
        {
            TaskVectorMerge t => F(t.Density),
            PcbMerge { LastSearch: { } s } => $"r {F(s.Ratio)}, λ {F(s.Lambda)} (searched)",
            SceMerge sce => $"top-k {F(sce.SelectTopK)}",
            WidenMerge or VarmMerge => "",
            _ => density is { } d ? F(d) : "default",
        };
    }

    /// <summary>The checkpoint file of <paramref name="path"/>: itself, or the names checkpoint inside a fine-tune folder.</summary>
    static string CheckpointFile(string path, string option)
    {
        if (!Directory.Exists(path)) return path;
        string inside = Path.Combine(path, FinetuneCommand.FullModelFileName);
        return File.Exists(inside) ? inside
            : throw new ArgumentException($"{option} '{path}' is a folder without {FinetuneCommand.FullModelFileName}; give a names checkpoint file or the folder of `engine finetune --adapter full --out DIR`");
    }

    static string Label(string path)
    {
        string file = Path.GetFileName(path);
        return file == FinetuneCommand.FullModelFileName ? Path.GetFileName(Path.GetDirectoryName(path)) ?? file : file;
    }

    /// <summary>The table: one row per model (base, fine-tuned, merged), its validation loss per eval set and their mean.</summary>
    public static string Table(IReadOnlyList<Row> rows, IReadOnlyList<string> evalSets)
    {
        var lines = new List<string>
        {
            "| model | density | " + string.Join(" | ", evalSets.Select(s => $"{s} loss")) + " | mean |",
            "|---|---:|" + string.Concat(evalSets.Select(_ => "---:|")) + "---:|",
        };
        foreach (var r in rows)
            lines.Add($"| {r.Model} | {r.Density} | " + string.Join(" | ", r.Losses.Select(l => l.ToString("F4", CultureInfo.InvariantCulture)))
                + $" | {r.Losses.Average().ToString("F4", CultureInfo.InvariantCulture)} |");
        return string.Join(Environment.NewLine, lines);
    }
}
