using System.Diagnostics;
using Engine.Nn;
using Engine.Peft;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Cli;

/// <summary>
/// The names adaptation job shared by <c>engine finetune</c> and <c>engine zoo</c>: a names GPT of <c>engine train</c>
/// adapted to other names with any registered adapter method (or fully), trained by the Nn <see cref="Trainer"/>
/// (AdamW without weight decay, warm-up + cosine, clipping at 1, the method's own hooks and loss terms), measured by
/// validation loss before and after, step time and peak memory.
/// </summary>
static class NamesAdaptation
{
    /// <summary>The name of full fine-tuning (no adapter) on the command line.</summary>
    public const string Full = "full";

    /// <summary>What one run measured.</summary>
    public sealed record Result(string Method, double Lr, long Trainable, long Total, double LossBefore, double LossAfter, double MsPerStep, double TokensPerSecond, double PeakMiB);

    /// <summary>Every command-line method name: the registered methods, their variants, and <c>full</c>.</summary>
    public static IEnumerable<string> MethodNames() => PeftRegistry.CliNames().Append(Full);

    /// <summary>
    /// The configuration for <paramref name="method"/> (null for <c>full</c>): the method's preset for the job, its
    /// variant's fields, then the user's <c>--set</c> fields.
    /// </summary>
    public static PeftConfig? ConfigFor(string method, int size, int steps, ulong seed, IReadOnlyDictionary<string, string> sets)
    {
        if (method == Full)
        {
            if (sets.Count > 0) throw new ArgumentException("--set applies to adapter methods, not to full fine-tuning");
            return null;
        }
        var (info, variant) = PeftRegistry.ByCliName(method);
        var config = info.Preset(AdapterPreset.ForTransformer(size, steps, seed), variant);
        if (sets.Count > 0) config = PeftConfigJson.With(config, sets);
        config.Validate();
        return config;
    }

    /// <summary>Runs the job; <paramref name="adapted"/> receives the adapted model (to save it), null for full fine-tuning.</summary>
    public static Result Run(string checkpointPath, string method, PeftConfig? config, string data, int steps, int batch, double lr, ulong seed,
        TextWriter log, out Module trained, out Gpt model)
    {
        var (gpt, tokenizer, _) = NamesModelFile.Load(checkpointPath);
        model = gpt;
        var names = EmbeddedData.Load(data);
        string? sources = null;
        if (config is Engine.Peft.Transfer.ScaLearnConfig { SourcesNeedTraining: true } scalearn)
            (config, sources) = TrainScaLearnSources(checkpointPath, scalearn, steps, batch, seed, log);
        PeftModel<Gpt>? peft;
        // The ScaLearn layers copy the sources' tensors: their folders are no longer needed once it is added.
        try { peft = config is null ? null : PeftApi.Apply(gpt, config, calibration: CalibrationFor(config, gpt, names, tokenizer, data, batch, seed)); }
        finally { if (sources is not null) Directory.Delete(sources, recursive: true); }
        // Virtual tokens take positions: the real context shrinks by their number.
        int context = gpt.Config.ContextLength - (peft?.ActiveInputAdapter?.VirtualTokens ?? 0);
        if (context < 2) throw new ArgumentException($"{peft!.ActiveInputAdapter!.VirtualTokens} virtual tokens leave no room in the model's context of {gpt.Config.ContextLength}");
        var corpus = NamesData.Corpus(names, tokenizer, seed, data, context, $"the model's context of {context} tokens");
        trained = peft is null ? gpt : peft;
        var module = trained;
        Func<Tensor, Tensor> forward = peft is null ? gpt.Forward : peft.Forward;
        var count = new TrainableParameterCount(trained.ParameterCount(trainableOnly: true), trained.ParameterCount());
        log.WriteLine($"data: {names.Count} names ({corpus.TrainTexts.Count} train, {corpus.ValidationTexts.Count} validation); method: {method}");
        log.WriteLine(count.ToString());
        double before = PlotRecorder.Validation(0, ValidationLoss(trained, forward, corpus, context));
        log.WriteLine($"validation loss before: {before:F4}");

        var optimizer = new AdamW(peft?.ParamGroups(lr, 0) ?? [new ParamGroup(trained.TrainableParameters(), lr, 0)]);
        var dataGenerator = new Generator(seed + 1);
        var options = new TrainerOptions(steps, new WarmupCosineSchedule(Math.Min(50, steps / 10), steps, 0.1), MaxGradNorm: 1.0, TokensPerStep: (long)batch * context);
        var result = new Trainer(trained, optimizer, PlotRecorder.Observe(options, trained)).Run(TrainingDivergedException.Guard(_ =>
        {
            var (x, y) = corpus.Batch(batch, context, dataGenerator);
            return Losses.CrossEntropy(forward(x), y);
        }, () => "Nothing was saved. Try a lower --lr."));
        double after = PlotRecorder.Validation(steps, ValidationLoss(trained, forward, corpus, context));
        double peak = Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024);
        log.WriteLine($"validation loss after {steps} steps: {after:F4}");
        var r = new Result(method, lr, count.Trainable, count.Total, before, after, result.Elapsed.TotalMilliseconds / steps, result.TokensPerSecond, peak);
        log.WriteLine(FormattableString.Invariant($"step time: {r.MsPerStep:F1} ms ({r.TokensPerSecond:F0} tokens/s); peak memory (working set): {peak:F0} MiB"));
        return r;
    }

    /// <summary>
    /// ScaLearn's preset (issue 18): its K = 2 source bottleneck adapters are trained single-task first, one per names task
    /// (female, male: <c>engine multitask</c>'s tasks; the target task's own adapter is one of the sources, as in the
    /// paper), each as this job with the bottleneck's tuned rate, and saved in a temporary folder that the returned
    /// config names in <c>adapters</c>. The adapter file holds copies of the sources, so the folders go once it is added.
    /// </summary>
    static (PeftConfig Config, string Folder) TrainScaLearnSources(string checkpointPath, Engine.Peft.Transfer.ScaLearnConfig c, int steps, int batch, ulong seed, TextWriter log)
    {
        var tasks = MultitaskCommand.Tasks.Select(t => t.Name).ToArray();
        var configs = c.NewSources ?? [];
        if (configs.Count != tasks.Length) throw new ArgumentException($"ScaLearn: the names job trains one source per names task ({tasks.Length}), the config has {configs.Count}");
        var root = Directory.CreateTempSubdirectory("engine-scalearn-sources-").FullName;
        var folders = new List<string>();
        try
        {
            for (int k = 0; k < tasks.Length; k++)
            {
                var r = Run(checkpointPath, "bottleneck", configs[k], tasks[k], steps, batch, FinetuneCommand.TunedLearningRate("bottleneck"), seed, TextWriter.Null, out var trained, out _);
                var folder = Path.Combine(root, tasks[k]);
                ((PeftModel)trained).SavePretrained(folder);
                folders.Add(folder);
                log.WriteLine(FormattableString.Invariant($"ScaLearn source {k}: a bottleneck adapter trained on the {tasks[k]} names ({steps} steps, validation loss {r.LossBefore:F4} -> {r.LossAfter:F4})"));
            }
        }
        catch
        {
            Directory.Delete(root, recursive: true);
            throw;
        }
        return (c with { Adapters = folders, NewSources = null, SourcesNeedTraining = false }, root);
    }

    /// <summary>
    /// For data-driven initialisations (EVA, CorDA, LoRA-GA: <see cref="ICalibratedConfig"/>): 8 training batches of the
    /// job's size, drawn by their own generator so that the training batches stay those every other method sees.
    /// </summary>
    static CalibrationData? CalibrationFor(PeftConfig config, Gpt gpt, IReadOnlyList<string> names, CharTokenizer tokenizer, string data, int batch, ulong seed)
    {
        if (config is not ICalibratedConfig { CalibrationNeed: not null }) return null;
        int context = gpt.Config.ContextLength;
        var corpus = NamesData.Corpus(names, tokenizer, seed, data, context, $"the model's context of {context} tokens");
        var generator = new Generator(seed + 2);
        var batches = Enumerable.Range(0, 8).Select(_ => corpus.Batch(batch, context, generator)).ToArray();
        return new CalibrationData(batches.Length, i => Losses.CrossEntropy(gpt.Forward(batches[i].Item1), batches[i].Item2));
    }

    /// <summary>The mean validation cross-entropy per character of <paramref name="corpus"/> in evaluation mode, without recording (every names job uses it).</summary>
    internal static double ValidationLoss(Module trained, Func<Tensor, Tensor> forward, NamesCorpus corpus, int context)
    {
        trained.Eval();
        using var _ = Autograd.Autograd.NoGrad();
        double total = 0;
        long count = 0;
        foreach (var (x, y) in corpus.ValidationWindows(64, context))
        {
            total += Losses.CrossEntropy(forward(x), y).Item() * y.Numel;
            count += y.Numel;
        }
        return total / count;
    }
}
