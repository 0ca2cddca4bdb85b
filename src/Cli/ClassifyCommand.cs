using System.CommandLine;
using Engine.Autograd;
using Engine.Nn;
using Engine.Peft;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Cli;

/// <summary>
/// <c>engine classify</c>: the second downstream job of the adapter issue. A byte-level transformer encoder with a
/// classification head learns spam vs ham on the SpamAssassin subset (embedded; data/spamassassin) through an adapter
/// (LoRA on every attention and MLP projection, the head fully trained) or by full training, and reports accuracy
/// and F1 (spam as the positive class) on a held-out 20%.
/// </summary>
static class ClassifyCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "JSON lines with subject, body, label (default: the embedded SpamAssassin subset)", DefaultValueFactory = _ => "spamassassin" };
        var adapter = new Option<string>("--adapter") { Description = "an adapter method that adapts layers (lora, dora, vera, ia3, ...) or full", DefaultValueFactory = _ => "lora" };
        var steps = new Option<int>("--steps") { Description = "training steps", DefaultValueFactory = _ => 300 };
        var length = new Option<int>("--length") { Description = "bytes per message", DefaultValueFactory = _ => 256 };
        var lr = new Option<double>("--lr") { Description = "peak learning rate", DefaultValueFactory = _ => 1e-2 };
        var seed = new Option<ulong>("--seed") { Description = "seed of the split, initialisation and batches", DefaultValueFactory = _ => 1 };
        var command = new Command("classify", "spam vs ham with a transformer encoder and an adapter; accuracy and F1 on a held-out split");
        foreach (var o in new Option[] { data, adapter, steps, length, lr, seed }) command.Options.Add(o);
        command.SetAction(r =>
        {
            try { return Run(r.GetValue(data)!, r.GetValue(adapter)!, r.GetValue(steps), r.GetValue(length), r.GetValue(lr), r.GetValue(seed)); }
            catch (Exception e) when (e is FileNotFoundException or InvalidDataException or ArgumentException)
            {
                Console.Error.WriteLine($"engine classify: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    static int Run(string dataSource, string method, int steps, int length, double lr, ulong seed)
    {
        // The method's preset, with the classification head trained and saved beside the adapter.
        var adapterConfig = method == "full" ? null : PeftRegistry.ByCliName(method) switch
        {
            var (info, _) when info.LayerType is null => throw new ArgumentException($"--adapter {method}: classify runs adapters of layers; {info.PeftType} adapts the inputs"),
            var (info, variant) => info.Preset(AdapterPreset.ForTransformer(8, steps, seed), variant) with { ModulesToSave = ["head"] },
        };
        var examples = Load(dataSource);
        var set = new TextClassificationSet(examples, 0.2, seed);
        Console.WriteLine($"data: {examples.Count} messages ({set.Train.Count(e => e.Label == 1)} spam of {set.Train.Count} train, {set.HeldOut.Count} held out), {length} bytes each");

        var config = new TransformerEncoderConfig(TextClassificationSet.VocabSize, length, DModel: 64, Layers: 2, Heads: 4, NumClasses: 2);
        var encoder = new TransformerEncoderClassifier(config, new Generator(seed));
        Module trained = encoder;
        if (adapterConfig is not null) trained = PeftApi.Apply(encoder, adapterConfig);
        long trainable = trained.ParameterCount(trainableOnly: true), total = trained.ParameterCount();
        Console.WriteLine($"model: encoder d=64, 2 layers, 4 heads, mean pooling; {method}: {trainable:N0} trainable of {total:N0} parameters ({100.0 * trainable / total:F2}%)");

        var optimizer = new AdamW(trained.TrainableParameters(), lr, weightDecay: 0.01);
        var schedule = new WarmupCosineSchedule(Math.Max(1, steps / 10), steps);
        var batches = new Generator(seed + 1);
        var options = new TrainerOptions(steps, schedule, MaxGradNorm: 1.0,
            Progress: p => { if (p.Completed % 50 == 0 || p.Completed == steps) Console.WriteLine($"step {p.Completed}/{steps}: loss {p.Loss:F4}  ({p.Elapsed.TotalSeconds:F0} s)"); });
        new Trainer(trained, optimizer, options).Run(_ =>
        {
            var pick = Tensor.Randint(0, set.Train.Count, [32], generator: batches).ToArray<long>();
            var (ids, padding) = TextClassificationSet.Encode(pick.Select(i => set.Train[(int)i].Text).ToList(), length);
            var labels = Tensor.FromArray(pick.Select(i => (long)set.Train[(int)i].Label).ToArray(), [pick.Length]);
            return Losses.CrossEntropy(encoder.Forward(ids, padding), labels);
        });

        var (accuracy, precision, recall, f1) = Evaluate(encoder, set.HeldOut, length);
        Console.WriteLine($"held out ({set.HeldOut.Count} messages): accuracy {100 * accuracy:F1}%, spam precision {100 * precision:F1}%, recall {100 * recall:F1}%, F1 {f1:F3}");
        return 0;
    }

    static List<(string Text, int Label)> Load(string source)
    {
        if (source == "spamassassin")
        {
            using var stream = typeof(ClassifyCommand).Assembly.GetManifestResourceStream("spamassassin/train.jsonl")
                ?? throw new FileNotFoundException("the embedded SpamAssassin data is missing from the executable");
            using var reader = new StreamReader(stream);
            return TextClassificationSet.ReadJsonLines(reader, "embedded spamassassin/train.jsonl");
        }
        if (!File.Exists(source)) throw new FileNotFoundException($"no data file at '{source}'", source);
        using var file = new StreamReader(source);
        return TextClassificationSet.ReadJsonLines(file, source);
    }

    /// <summary>Accuracy, and precision, recall and F1 of the spam class (label 1).</summary>
    public static (double Accuracy, double Precision, double Recall, double F1) Evaluate(TransformerEncoderClassifier encoder, IReadOnlyList<(string Text, int Label)> examples, int length)
    {
        encoder.Eval();
        using var _ = Autograd.Autograd.NoGrad();
        int tp = 0, fp = 0, fn = 0, correct = 0;
        for (int start = 0; start < examples.Count; start += 64)
        {
            var chunk = examples.Skip(start).Take(64).ToList();
            var (ids, padding) = TextClassificationSet.Encode(chunk.Select(e => e.Text).ToList(), length);
            var predicted = encoder.Forward(ids, padding).ArgMax(-1).ToArray<long>();
            for (int i = 0; i < chunk.Count; i++)
            {
                int y = chunk[i].Label, p = (int)predicted[i];
                if (p == y) correct++;
                if (p == 1 && y == 1) tp++;
                else if (p == 1) fp++;
                else if (y == 1) fn++;
            }
        }
        double precision = tp + fp == 0 ? 0 : (double)tp / (tp + fp), recall = tp + fn == 0 ? 0 : (double)tp / (tp + fn);
        double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
        return ((double)correct / examples.Count, precision, recall, f1);
    }
}
