using System.Text.Json;
using Engine.Nn;
using Engine.Peft;
using Engine.Pretrained;

namespace Engine.Cli;

/// <summary>
/// <c>engine classify --model minilm</c>: a classifier on the pretrained all-MiniLM-L6-v2 (frozen) trained through a
/// layer adapter of the registry (PEFT's BERT targets: <see cref="AdapterPreset.ForBert"/>) or through the head alone
/// (<c>--adapter head</c>), with AdamW, warm-up and cosine decay; reports held-out metrics and saves the classifier.
/// </summary>
static class ClassifyMiniLm
{
    /// <summary>What <c>--json</c> writes: the method, its learning rate, held-out accuracy and F1, training seconds.</summary>
    public sealed record SpamResult(string Method, double Lr, double Accuracy, double F1, double TrainSeconds);

    const int BatchSize = 16, MaxPositions = 512;

    public static int Run(List<(string Text, int Label)> examples, string method, int steps, int maxTokens, double lr, ulong seed, string? output, string? json = null)
    {
        // all-MiniLM-L6-v2 has 512 positions; [CLS] and [SEP] take two.
        if (maxTokens is < 2 or > MaxPositions) throw new ArgumentException($"--length must be in [2, {MaxPositions}] tokens with --model minilm (its position table), got {maxTokens}");
        if (steps < 1 || steps > 1_000_000) throw new ArgumentException($"--steps must be in [1, 1000000], got {steps}");
        if (!(lr > 0) || !double.IsFinite(lr)) throw new ArgumentException($"--lr must be a positive number, got {lr}");
        if (output is not null && File.Exists(output)) throw new ArgumentException($"--out: '{output}' is a file; give a folder");
        if (examples.FirstOrDefault(e => e.Label is not (0 or 1)) is { Text: not null } bad)
            throw new InvalidDataException($"--data: labels must be 0 (ham) or 1 (spam); found {bad.Label}");
        var adapter = method switch
        {
            "head" => null,
            "full" => throw new ArgumentException("--adapter full is for the bytes model; with minilm use an adapter method or head"),
            _ => PeftRegistry.ByCliName(method) switch
            {
                var (info, _) when info.LayerType is null || info.Capabilities.HasFlag(AdapterCapabilities.InputSide) => throw new ArgumentException($"--adapter {method}: classify runs adapters of layers; {info.PeftType} works through a model-level part (a prompt at the input, or X-LoRA's classifier pass), which it does not run"),
                var (info, variant) => info.Preset(AdapterPreset.ForBert(8, steps, seed), variant),
            },
        };
        var set = new TextClassificationSet(examples, 0.2, seed);
        Console.WriteLine($"data: {examples.Count} messages ({set.Train.Count(e => e.Label == 1)} spam of {set.Train.Count} train, {set.HeldOut.Count} held out), {maxTokens} tokens each at most");

        // Data-driven initialisations (CorDA, LoRA-GA) calibrate on 4 training batches drawn by their own generator, so
        // that the training batches stay those every other method sees.
        List<IReadOnlyList<(string Text, int Label)>>? calibration = null;
        if (adapter is ICalibratedConfig { CalibrationNeed: not null })
        {
            var draws = new Generator(seed + 2);
            calibration = [.. Enumerable.Range(0, 4).Select(_ => Tensor.Randint(0, set.Train.Count, [BatchSize], generator: draws).ToArray<long>()
                .Select(i => set.Train[(int)i]).ToList())];
        }
        var classifier = TextClassifier.CreateOnMiniLm(adapter, classes: 2, maxTokens, seed, calibration);
        var trained = classifier.Trainable;
        Console.WriteLine($"model: all-MiniLM-L6-v2 (frozen, 6 layers, width 384), mean pooling, linear head; {method}: {ClassifierTraining.Count(trained)}");

        var batches = new Generator(seed + 1);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ClassifierTraining.Run(trained, steps, lr, printEvery: 25, () =>
        {
            var pick = Tensor.Randint(0, set.Train.Count, [BatchSize], generator: batches).ToArray<long>();
            var batch = classifier.Tokenize(pick.Select(i => set.Train[(int)i].Text).ToList());
            var labels = Tensor.FromArray(pick.Select(i => (long)set.Train[(int)i].Label).ToArray(), [pick.Length]);
            return Losses.CrossEntropy(classifier.Logits(batch), labels);
        });
        double trainSeconds = clock.Elapsed.TotalSeconds;

        var probabilities = classifier.Probabilities(set.HeldOut.Select(e => e.Text).ToList());
        var predicted = probabilities.ArgMax(-1).ToArray<long>().Select(p => (int)p).ToList();
        var metrics = BinaryMetrics.Of(set.HeldOut.Select(e => e.Label).ToList(), predicted);
        Console.WriteLine($"held out ({set.HeldOut.Count} messages): {metrics}");
        if (json is not null) File.WriteAllText(json, JsonSerializer.Serialize(new SpamResult(method, lr, metrics.Accuracy, metrics.F1, trainSeconds)));
        if (output is not null)
        {
            classifier.Save(output);
            Console.WriteLine($"saved the classifier to {output} (engine predict --model minilm --adapter {output} --data FILE.jsonl)");
        }
        return 0;
    }
}
