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
        var data = new Option<string>("--data") { Description = "names file (one per line), or an embedded set: female, male, all", DefaultValueFactory = _ => "female" };
        var steps = new Option<int>("--steps") { Description = "optimiser steps", DefaultValueFactory = _ => 1500 };
        var batch = new Option<int>("--batch") { Description = "sequences per batch", DefaultValueFactory = _ => 32 };
        var context = new Option<int>("--context") { Description = "tokens per sequence", DefaultValueFactory = _ => 32 };
        var width = new Option<int>("--width") { Description = "model width d", DefaultValueFactory = _ => 64 };
        var layers = new Option<int>("--layers") { Description = "transformer blocks", DefaultValueFactory = _ => 4 };
        var heads = new Option<int>("--heads") { Description = "attention heads", DefaultValueFactory = _ => 4 };
        var lr = new Option<double>("--lr") { Description = "peak learning rate (AdamW, warm-up + cosine)", DefaultValueFactory = _ => 3e-3 };
        var evalEvery = new Option<int>("--eval-every") { Description = "steps between validation losses", DefaultValueFactory = _ => 250 };
        var seed = new Option<ulong>("--seed") { Description = "seed of data order, initialisation and sampling", DefaultValueFactory = _ => 1 };
        var samples = new Option<int>("--samples") { Description = "names to sample at the end", DefaultValueFactory = _ => 10 };
        var output = new Option<string>("--out") { Description = "checkpoint file written at the end", DefaultValueFactory = _ => DefaultCheckpoint };
        var command = new Command("train", "train a character-level GPT on first names (defaults: the embedded female names, under 5 minutes on 2 cores)");
        foreach (var o in new Option[] { data, steps, batch, context, width, layers, heads, lr, evalEvery, seed, samples, output }) command.Options.Add(o);
        command.SetAction(r => Run(new TrainSettings(r.GetValue(data)!, r.GetValue(steps), r.GetValue(batch), r.GetValue(context), r.GetValue(width),
            r.GetValue(layers), r.GetValue(heads), r.GetValue(lr), r.GetValue(evalEvery), r.GetValue(seed), r.GetValue(samples), r.GetValue(output)!)));
        PlotOption.AddTo(command, r => PlotFiles.NextTo(r.GetValue(output)!));
        return command;
    }

    sealed record TrainSettings(string Data, int Steps, int Batch, int Context, int Width, int Layers, int Heads, double Lr, int EvalEvery, ulong Seed, int Samples, string Out);

    static int Run(TrainSettings s)
    {
        List<string> names;
        try { names = EmbeddedData.Load(s.Data); }
        catch (Exception e) when (e is FileNotFoundException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"engine train: {e.Message}");
            return 2;
        }
        var tokenizer = CharTokenizer.FromTexts(EmbeddedData.Load("all").Concat(names));
        var corpus = new NamesCorpus(names, tokenizer, 0.1, s.Seed);
        var config = new GptConfig(tokenizer.VocabSize, s.Context, s.Width, s.Layers, s.Heads);
        var generator = new Generator(s.Seed);
        var model = new Gpt(config, generator);
        Console.WriteLine($"data: {names.Count} names ({corpus.TrainTexts.Count} train, {corpus.ValidationTexts.Count} validation), vocabulary {tokenizer.VocabSize}");
        Console.WriteLine($"model: GPT d={s.Width}, {s.Layers} layers, {s.Heads} heads, context {s.Context}: {model.ParameterCount():N0} parameters");

        double baseline = corpus.UnigramBaseline();
        var optimizer = new AdamW(ParameterGroups(model, s.Lr), beta2: 0.99);
        var schedule = new WarmupCosineSchedule(Math.Min(100, s.Steps / 10), s.Steps, 0.1);
        var progress = new ProgressLine(s.Steps);
        var dataGenerator = new Generator(s.Seed + 1);
        var options = new TrainerOptions(s.Steps, schedule, MaxGradNorm: 1.0, TokensPerStep: (long)s.Batch * s.Context, EvaluateEvery: s.EvalEvery,
            Evaluate: step =>
            {
                progress.Break();
                Console.WriteLine($"step {step}: validation loss {PlotRecorder.Validation(step, ValidationLoss(model, corpus, s.Context)):F4} (unigram baseline {baseline:F4})");
            },
            Progress: p => progress.Update(p.Completed, p.Loss, (long)s.Batch * s.Context));
        new Trainer(model, optimizer, PlotRecorder.Observe(options, model)).Run(_ =>
        {
            var (x, y) = corpus.Batch(s.Batch, s.Context, dataGenerator);
            return Losses.CrossEntropy(model.Forward(x), y);
        });
        double final = ValidationLoss(model, corpus, s.Context);
        Console.WriteLine($"trained {s.Steps} steps in {progress.Elapsed:mm\\:ss}: validation loss {final:F4} nats/char vs unigram baseline {baseline:F4}");

        TrainingCheckpoint.Save(s.Out, model, optimizer, s.Steps,
            new Dictionary<string, Generator> { ["init"] = generator, ["data"] = dataGenerator }, NamesModelFile.Values(config, tokenizer));
        Console.WriteLine($"checkpoint: {s.Out}");
        Console.WriteLine("samples:");
        foreach (var name in SampleCommand.Sample(model, tokenizer, s.Samples, new SamplingOptions(Temperature: 0.8), "", new Generator(s.Seed + 2)))
            Console.WriteLine("  " + name);
        return 0;
    }

    // No weight decay on biases, norms and embeddings, as in GPT-2 training recipes.
    static ParamGroup[] ParameterGroups(Module model, double lr)
    {
        var decay = model.NamedParameters().Where(p => p.Parameter.Rank >= 2 && !p.Name.StartsWith("tok") && !p.Name.StartsWith("pos")).Select(p => p.Parameter).ToList();
        var rest = model.Parameters().Except(decay).ToList();
        return [new ParamGroup(decay, lr, 0.1, "decay"), new ParamGroup(rest, lr, 0, "no_decay")];
    }

    static double ValidationLoss(Gpt model, NamesCorpus corpus, int context)
    {
        model.Eval();
        using var _ = Autograd.Autograd.NoGrad();
        double total = 0;
        long count = 0;
        foreach (var (x, y) in corpus.ValidationWindows(64, context))
        {
            total += Losses.CrossEntropy(model.Forward(x), y).Item() * y.Numel;
            count += y.Numel;
        }
        return total / count;
    }
}
