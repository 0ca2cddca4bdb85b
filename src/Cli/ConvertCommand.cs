using System.CommandLine;
using Engine.Nn;
using Engine.Nn.Checkpoints;
using Engine.Peft.Recursive;

namespace Engine.Cli;

/// <summary>
/// <c>engine convert --recursive</c>: turns a names model of <c>engine train</c> into a Relaxed Recursive Transformer
/// (Bae et al. 2024, arXiv 2410.20672; <see cref="RelaxedRecursive"/>): the L blocks become L / K unique blocks looped
/// K times (CYCLE, average init), each depth keeps a rank-r LoRA from the SVD of its residual, and the model is uptrained
/// (shared weights and LoRA) on the names job. It prints the validation loss of the dense model, of the converted one
/// before uptraining and after, and the parameter counts; with <c>--out</c> it writes the tied base (each shared tensor
/// once; every command reads it as a plain GPT) and the adapter in PEFT's layout.
/// </summary>
static class ConvertCommand
{
    /// <summary>The base's file name in the <c>--out</c> folder; the adapter goes to <see cref="AdapterFolder"/> beside it.</summary>
    public const string BaseFileName = "model.safetensors", AdapterFolder = "adapter";

    /// <summary>What a conversion measured.</summary>
    public sealed record Report(long DenseParameters, long ConvertedParameters, double DenseLoss, double ConvertedLoss, double UptrainedLoss);

    public static Command Create()
    {
        var recursive = new Option<bool>("--recursive") { Description = "convert to a Relaxed Recursive Transformer (tied blocks + per-depth LoRA; arXiv 2410.20672); the only conversion so far" };
        var checkpoint = new Option<string>("--checkpoint") { Description = "names model written by `engine train`", DefaultValueFactory = _ => TrainCommand.DefaultCheckpoint };
        var loops = ValidatedOption.Integer("--loops", "recursions K: the layers become layers / K unique blocks looped K times", 2, min: 1);
        var rank = ValidatedOption.Integer("--rank", "rank r of each depth's LoRA (0: strictly tied)", 4, min: 0);
        var data = new Option<string>("--data") { Description = "names to uptrain on: a file (UTF-8, one per line) or an embedded set: female, male, all", DefaultValueFactory = _ => "female" };
        var steps = ValidatedOption.Integer("--steps", "uptraining steps (0: convert only)", 300, min: 0);
        var batch = ValidatedOption.Integer("--batch", "sequences per batch", 32, min: 1);
        var lr = ValidatedOption.Positive("--lr", "peak uptraining learning rate (AdamW, warm-up + cosine)", 1e-3);
        var seed = new Option<ulong>("--seed") { Description = "seed of the data order", DefaultValueFactory = _ => 1 };
        var output = ValidatedOption.OptionalOutputFolder("--out", $"folder for the tied base ({BaseFileName}) and the adapter ({AdapterFolder}/, PEFT layout)");
        var command = new Command("convert", "turn a trained names model into a Relaxed Recursive Transformer and uptrain it: validation loss before and after");
        foreach (var o in new Option[] { recursive, checkpoint, loops, rank, data, steps, batch, lr, seed, output }) command.Options.Add(o);
        command.SetAction(r =>
        {
            if (!r.GetValue(recursive)) throw new ArgumentException("engine convert: say which conversion: --recursive (the only one so far)");
            Run(r.GetValue(checkpoint)!, new RelaxedRecursiveOptions(r.GetValue(loops), r.GetValue(rank)), r.GetValue(data)!, r.GetValue(steps), r.GetValue(batch),
                r.GetValue(lr), r.GetValue(seed), r.GetValue(output), Console.Out);
            return 0;
        });
        return command;
    }

    /// <summary>Converts, uptrains and optionally saves; returns the measurements.</summary>
    public static Report Run(string checkpointPath, RelaxedRecursiveOptions options, string data, int steps, int batch, double lr, ulong seed, string? outFolder, TextWriter log)
    {
        var config = NamesModelFile.ReadConfig(checkpointPath);
        // The options are checked against the model before any work: the loops must divide the layers.
        LayerTying.BlockOf(options.Pattern, config.Layers, options.Loops);
        var (gpt, tokenizer, _) = NamesModelFile.Load(checkpointPath);
        var names = EmbeddedData.Load(data);
        var corpus = NamesData.Corpus(names, tokenizer, seed, data, config.ContextLength, $"the model's context of {config.ContextLength} tokens");
        long denseCount = gpt.ParameterCount();
        double dense = NamesAdaptation.ValidationLoss(gpt, gpt.Forward, corpus, config.ContextLength);
        log.WriteLine($"dense: {config.Layers} layers, {denseCount:N0} parameters, validation loss {dense:F4}");

        var peft = RelaxedRecursive.Convert(gpt, options);
        Module model = (Module?)peft ?? gpt;
        Func<Tensor, Tensor> forward = peft is null ? gpt.Forward : peft.Forward;
        long count = model.ParameterCount();
        double converted = NamesAdaptation.ValidationLoss(model, forward, corpus, config.ContextLength);
        log.WriteLine($"recursive: {config.Layers / options.Loops} unique blocks x {options.Loops} loops, LoRA rank {options.Rank}: {count:N0} parameters ({count / (double)denseCount:P0} of dense), validation loss {converted:F4} before uptraining");

        double uptrained = converted;
        if (steps > 0)
        {
            model.Train();
            var optimizer = new AdamW(model.TrainableParameters(), lr);
            var dataGenerator = new Generator(seed + 1);
            var trainer = new Trainer(model, optimizer, new TrainerOptions(steps, new WarmupCosineSchedule(Math.Min(50, steps / 10), steps, 0.1), MaxGradNorm: 1.0,
                TokensPerStep: (long)batch * config.ContextLength));
            trainer.Run(TrainingDivergedException.Guard(_ =>
            {
                var (x, y) = corpus.Batch(batch, config.ContextLength, dataGenerator);
                return Losses.CrossEntropy(forward(x), y);
            }, () => "Nothing was saved. Try a lower --lr."));
            uptrained = NamesAdaptation.ValidationLoss(model, forward, corpus, config.ContextLength);
            log.WriteLine($"after {steps} uptraining steps: validation loss {uptrained:F4}");
        }
        if (outFolder is not null)
        {
            var values = TrainingCheckpoint.ReadInfo(checkpointPath).Values.Where(v => v.Key is NamesModelFile.ConfigKey or NamesModelFile.VocabularyKey).ToDictionary(v => v.Key, v => v.Value);
            Directory.CreateDirectory(outFolder);
            string file = Path.Combine(outFolder, BaseFileName);
            TrainingCheckpoint.Save(file, peft is null ? gpt : RelaxedRecursive.TiedBase(peft, options), null, steps, values: values);
            if (peft is not null) peft.SavePretrained(Path.Combine(outFolder, AdapterFolder));
            log.WriteLine(peft is null
                ? $"saved: {file} (engine sample --checkpoint {file})"
                : $"saved: {file} and {Path.Combine(outFolder, AdapterFolder)} (engine generate --model {file} --adapter {Path.Combine(outFolder, AdapterFolder)})");
        }
        return new Report(denseCount, count, dense, converted, uptrained);
    }
}
