using System.CommandLine;
using System.Diagnostics;
using Engine.Autograd;
using Engine.Nn;
using Engine.Nn.Checkpoints;

namespace Engine.Cli;

/// <summary><c>engine train</c>: trains a character-level GPT on first names (the main job).</summary>
static class TrainCommand
{
    public const string DefaultCheckpoint = "checkpoints/names.safetensors";

    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "names file (UTF-8, one per line), or an embedded set: female, male, all", DefaultValueFactory = _ => "female" };
        var steps = ValidatedOption.Integer("--steps", "optimiser steps", 1500, min: 1);
        var batch = ValidatedOption.Integer("--batch", "sequences per batch", 32, min: 1);
        var context = ValidatedOption.Integer("--context", "tokens per sequence", 32, min: 1);
        var width = ValidatedOption.Integer("--width", "model width d (a multiple of --heads)", 64, min: 1);
        var layers = ValidatedOption.Integer("--layers", "transformer blocks", 4, min: 1);
        var heads = ValidatedOption.Integer("--heads", "attention heads", 4, min: 1);
        var lr = ValidatedOption.OptionalPositive("--lr", "peak learning rate, warm-up + cosine (default: the optimiser's; adamw 3e-3)");
        var optimizerName = OptimizerOption.Create();
        var evalEvery = ValidatedOption.Integer("--eval-every", "steps between validation losses; the checkpoint is saved at each", 250, min: 1);
        var seed = new Option<ulong>("--seed") { Description = "seed of data order, initialisation and sampling", DefaultValueFactory = _ => 1 };
        var samples = ValidatedOption.Integer("--samples", "names to sample at the end", 10, min: 0, max: 10_000);
        var experts = ValidatedOption.OptionalInteger("--experts", "a mixture of this many FFN experts in every block instead of the dense MLP (top-k routing with the balance and z-losses)", min: 1, max: 256);
        var topK = ValidatedOption.Integer("--top-k", "experts per token with --experts (renormalised top-k, Mixtral)", 2, min: 1, max: 256);
        var holdout = new Option<string[]>("--holdout") { Description = "embedded sets (female, male) whose validation names, split as `engine finetune --seed` with this seed splits them, are left out of training, so a base can be judged on later tasks' validation sets (engine merge)", Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = true };
        var output = ValidatedOption.OutputFile("--out", "checkpoint file, written at each validation (the last one that was finite is kept)", DefaultCheckpoint);
        var command = new Command("train", "train a character-level GPT on first names (defaults: the embedded female names, under 5 minutes on 2 cores)");
        foreach (var o in new Option[] { data, steps, batch, context, width, layers, heads, lr, optimizerName, evalEvery, seed, samples, experts, topK, holdout, output }) command.Options.Add(o);
        foreach (var o in SltrainTraining.Options) command.Options.Add(o);
        command.SetAction(r => Run(new TrainSettings(r.GetValue(data)!, r.GetValue(steps), r.GetValue(batch), r.GetValue(context), r.GetValue(width),
            r.GetValue(layers), r.GetValue(heads), r.GetValue(lr), r.GetValue(evalEvery), r.GetValue(seed), r.GetValue(samples), r.GetValue(output)!,
            SltrainTraining.ConfigOf(r, r.GetValue(width)), r.GetValue(experts) is { } e ? new MoeOptions(e, TopK: r.GetValue(topK)) : null, r.GetValue(optimizerName)!, r.GetValue(holdout) ?? [])));
        PlotOption.AddTo(command, r => PlotFiles.NextTo(r.GetValue(output)!));
        return command;
    }

    sealed record TrainSettings(string Data, int Steps, int Batch, int Context, int Width, int Layers, int Heads, double? Lr, int EvalEvery, ulong Seed, int Samples, string Out,
        Peft.Sparse.SltrainConfig? Sltrain = null, MoeOptions? Moe = null, string Optimizer = "adamw", string[]? Holdout = null);

    /// <summary>
    /// <paramref name="names"/> less the validation names of each embedded set in <paramref name="holdout"/>, split as
    /// <c>engine finetune --data SET --seed</c> splits it, so a base trained on all names has not seen the names its
    /// fine-tunes and merges are validated on.
    /// </summary>
    static List<string> WithoutHeldOut(List<string> names, string[] holdout, CharTokenizer tokenizer, ulong seed, int context)
    {
        if (holdout.Length == 0) return names;
        var unknown = holdout.Where(h => h is not ("female" or "male")).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"--holdout {string.Join(" ", unknown)}: give embedded sets, female or male");
        var heldOut = holdout.SelectMany(h => NamesData.Corpus(EmbeddedData.Load(h), tokenizer, seed, h, context, $"--context {context}").ValidationTexts).ToHashSet();
        return names.Where(n => !heldOut.Contains(n)).ToList();
    }

    static int Run(TrainSettings s)
    {
        // Everything is checked before training starts: the rules between options, the memory, then the data.
        if (s.Width % s.Heads != 0) throw new ArgumentException($"--heads {s.Heads} must divide --width {s.Width}");
        if (s.Moe is { } moe && moe.TopK > moe.Experts) throw new ArgumentException($"--top-k {moe.TopK} must be at most --experts {moe.Experts}");
        if (s.Moe is not null && s.Sltrain is not null) throw new ArgumentException("--experts cannot be combined with SLTrain's options: SLTrain replaces the dense MLP's layers");
        var names = EmbeddedData.Load(s.Data);
        var tokenizer = CharTokenizer.FromTexts(EmbeddedData.Load("all").Concat(names));
        names = WithoutHeldOut(names, s.Holdout ?? [], tokenizer, s.Seed, s.Context);
        var config = new GptConfig(tokenizer.VocabSize, s.Context, s.Width, s.Layers, s.Heads, Moe: s.Moe);
        MemoryEstimate.Require(MemoryEstimate.Gpt(config, s.Batch, s.Context, training: true),
            $"training with --batch {s.Batch}, --context {s.Context}, --width {s.Width}, --layers {s.Layers}", "lower them");
        var corpus = NamesData.Corpus(names, tokenizer, s.Seed, s.Data, s.Context, $"--context {s.Context}");
        var generator = new Generator(s.Seed);
        var model = new Gpt(config, generator);
        if (s.Sltrain is { } sltrain) SltrainTraining.Apply(model, sltrain, generator);
        Console.WriteLine($"data: {names.Count} names ({corpus.TrainTexts.Count} train, {corpus.ValidationTexts.Count} validation), vocabulary {tokenizer.VocabSize}");
        Console.WriteLine($"model: GPT d={s.Width}, {s.Layers} layers, {s.Heads} heads, context {s.Context}: {model.ParameterCount():N0} parameters");

        double baseline = corpus.UnigramBaseline();
        var preset = OptimizerPresets.Get(s.Optimizer);
        var optimizer = preset.Create(model, s.Lr);
        if (preset.Name != "adamw") Console.WriteLine($"optimizer: {preset.Name}, peak lr {s.Lr ?? preset.Lr:G3}, weight decay {preset.WeightDecay:G3} ({preset.Source})");
        var schedule = new WarmupCosineSchedule(Math.Min(100, s.Steps / 10), s.Steps, 0.1);
        var progress = new ProgressLine(s.Steps);
        var dataGenerator = new Generator(s.Seed + 1);
        var generators = new Dictionary<string, Generator> { ["init"] = generator, ["data"] = dataGenerator };
        // Sophia-G draws labels from the model for its Hessian estimate with a generator of its own, saved with the others.
        var hessianGenerator = new Generator(s.Seed + 4);
        if (optimizer is IHessianEstimating) generators["hessian"] = hessianGenerator;
        Tensor? lastInputs = null;
        int saved = 0;
        string Kept() => (saved > 0 ? $"The checkpoint '{s.Out}' keeps step {saved}, the last validated." : $"No checkpoint was written (the first is saved at step {Math.Min(s.EvalEvery, s.Steps)}).")
            + " Try a lower --lr.";
        double final = double.NaN;
        // MARS clips its own variance-corrected gradient (levanter mars.py has no separate gradient clip).
        var options = new TrainerOptions(s.Steps, schedule, MaxGradNorm: optimizer is Mars ? null : 1.0, TokensPerStep: (long)s.Batch * s.Context, EvaluateEvery: s.EvalEvery,
            Evaluate: step =>
            {
                progress.Break();
                final = PlotRecorder.Validation(step, ValidationLoss(model, corpus, s.Context));
                if (!double.IsFinite(final)) throw new TrainingDivergedException("validation loss", step, final, Kept());
                Console.WriteLine($"step {step}: validation loss {final:F4} (unigram baseline {baseline:F4})");
                // Saved at every validation, so a run that is stopped or diverges later keeps its last good weights.
                // An SLTrain model is saved materialised (W = sBA + S: the method's merge), as a plain GPT the other commands read.
                if (s.Sltrain is null) TrainingCheckpoint.Save(s.Out, model, optimizer, step, generators, NamesModelFile.Values(config, tokenizer));
                else TrainingCheckpoint.Save(s.Out, Materialised(model, config), null, step, generators, NamesModelFile.Values(config, tokenizer));
                saved = step;
            },
            Progress: p => progress.Update(p.Completed, p.Loss, (long)s.Batch * s.Context),
            // Sophia-G: every k-th step, one more forward and backward on the step's batch with labels sampled from the logits.
            HessianSample: _ =>
            {
                using var aux = AuxiliaryLosses.Collect();
                return SophiaG.SampledLabelLoss(model.Forward(lastInputs!), hessianGenerator);
            });
        var peak = new SltrainTraining.PeakSampler(MemorySampleEvery);
        new Trainer(model, optimizer, PlotRecorder.Observe(options, model)).Run(TrainingDivergedException.Guard(step =>
        {
            var (x, y) = corpus.Batch(s.Batch, s.Context, dataGenerator);
            lastInputs = x;
            // A mixture of experts adds its balance and z-losses during the forward pass.
            using var aux = AuxiliaryLosses.Collect();
            var logits = model.Forward(x);
            peak.AfterForward(step);
            return Losses.CrossEntropy(logits, y) + aux.Total(logits.Device);
        }, Kept));
        Console.WriteLine($"trained {s.Steps} steps in {ProgressLine.Format(progress.Elapsed)}: validation loss {final:F4} nats/char vs unigram baseline {baseline:F4}");
        SltrainTraining.Report(model, peak, MemorySampleEvery);
        if (s.Moe is not null) ReportExpertLoads(model, corpus, s);
        Console.WriteLine($"checkpoint: {s.Out}");
        if (s.Samples == 0) return 0;
        Console.WriteLine("samples:");
        foreach (var name in SampleCommand.Sample(model, tokenizer, s.Samples, new SamplingOptions(Temperature: 0.8), "", new Generator(s.Seed + 2)))
            Console.WriteLine("  " + name);
        return 0;
    }

    const int MemorySampleEvery = 50;

    // Each MoE layer's share of assignments per expert on one validation batch in evaluation mode, and its busiest expert against uniform.
    static void ReportExpertLoads(Gpt model, NamesCorpus corpus, TrainSettings s)
    {
        model.Eval();
        using (Engine.Autograd.Autograd.NoGrad()) model.Forward(corpus.Batch(s.Batch, s.Context, new Generator(s.Seed + 3), validation: true).Inputs);
        Console.WriteLine("expert loads (share of assignments per expert on one validation batch; uniform is 1/E):");
        foreach (var layer in MoeLoads.Of(model))
            Console.WriteLine($"  {layer.Name}: [{string.Join(" ", layer.Loads.Select(l => l.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))}] max/uniform {layer.MaxOverUniform:F2}");
        model.Train();
    }

    static Gpt Materialised(Gpt model, GptConfig config)
    {
        var dense = new Gpt(config, new Generator(0));
        dense.LoadStateDict(Peft.Sparse.SltrainModel.DenseState(model));
        return dense;
    }

    static double ValidationLoss(Gpt model, NamesCorpus corpus, int context) => NamesAdaptation.ValidationLoss(model, model.Forward, corpus, context);
}
