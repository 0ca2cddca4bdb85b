using System.CommandLine;
using Engine.Autograd;
using Engine.Nn;
using Engine.Peft;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Cli;

/// <summary>
/// <c>engine classify</c>: spam vs ham on the SpamAssassin subset (embedded; data/spamassassin), accuracy and F1 (spam
/// as the positive class) on a held-out 20%. <c>--model bytes</c> (the default) trains a byte-level transformer encoder
/// from scratch through an adapter or fully; <c>--model minilm</c> adapts the pretrained all-MiniLM-L6-v2
/// (<see cref="ClassifyMiniLm"/>) and can save the classifier for <c>engine predict</c>.
/// </summary>
static class ClassifyCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "bytes: a byte-level encoder trained from scratch; minilm: all-MiniLM-L6-v2 (pretrained, frozen)", DefaultValueFactory = _ => "bytes" };
        var data = new Option<string>("--data") { Description = "JSON lines with subject, body, label (default: the embedded SpamAssassin subset)", DefaultValueFactory = _ => "spamassassin" };
        var adapter = new Option<string>("--adapter") { Description = "an adapter method that adapts layers (lora, dora, vera, ia3, ...), head (the head alone) or full (bytes only)", DefaultValueFactory = _ => "lora" };
        var steps = ValidatedOption.OptionalInteger("--steps", "training steps (default: 300 bytes, 150 minilm)", min: 1, max: 1_000_000);
        var length = ValidatedOption.OptionalInteger("--length", "bytes (bytes model, default 256) or tokens (minilm, default 128) per message", min: 1);
        var lr = ValidatedOption.OptionalPositive("--lr", "peak learning rate (default: 1e-2 bytes, 2e-3 minilm, 2e-2 minilm head)");
        var seed = new Option<ulong>("--seed") { Description = "seed of the split, initialisation and batches", DefaultValueFactory = _ => 1 };
        var output = ValidatedOption.OptionalOutputFolder("--out", "minilm: save the trained classifier (adapter and head) to this folder, for engine predict");
        var json = ValidatedOption.OptionalOutputFile("--json", "minilm: also write the held-out figures to this JSON file (engine zoo reads it)");
        var command = new Command("classify", "spam vs ham with a transformer encoder and an adapter; accuracy and F1 on a held-out split");
        foreach (var o in new Option[] { model, data, adapter, steps, length, lr, seed, output, json }) command.Options.Add(o);
        command.SetAction(r =>
        {
            string which = r.GetValue(model)!, method = r.GetValue(adapter)!;
            return which switch
            {
                "minilm" => ClassifyMiniLm.Run(Load(r.GetValue(data)!), method, r.GetValue(steps) ?? 150, r.GetValue(length) ?? 128,
                    r.GetValue(lr) ?? (method == "head" ? 2e-2 : 2e-3), r.GetValue(seed), r.GetValue(output), r.GetValue(json)),
                "bytes" when r.GetValue(output) is not null || r.GetValue(json) is not null => throw new ArgumentException("--out and --json are for minilm classifiers; the bytes model is a from-scratch demonstration"),
                "bytes" => Run(r.GetValue(data)!, method, r.GetValue(steps) ?? 300, r.GetValue(length) ?? 256, r.GetValue(lr) ?? 1e-2, r.GetValue(seed)),
                _ => throw new ArgumentException($"--model must be bytes or minilm, got '{which}'"),
            };
        });
        PlotOption.AddTo(command, r => PlotFiles.InsideOrHere(r.GetValue(output), "classify"));
        return command;
    }

    static int Run(string dataSource, string method, int steps, int length, double lr, ulong seed)
    {
        // The method's preset, with the classification head trained and saved beside the adapter.
        if (method == "head") throw new ArgumentException("--adapter head trains a pretrained model's head; use it with --model minilm");
        var adapterConfig = method == "full" ? null : PeftRegistry.ByCliName(method) switch
        {
            var (info, _) when info.LayerType is null || info.Capabilities.HasFlag(AdapterCapabilities.InputSide) => throw new ArgumentException($"--adapter {method}: classify runs adapters of layers; {info.PeftType} works through a model-level part (a prompt at the input, or X-LoRA's classifier pass), which it does not run"),
            var (info, variant) => info.Preset(AdapterPreset.ForTransformer(8, steps, seed), variant) with { ModulesToSave = ["head"] },
        };
        var config = new TransformerEncoderConfig(TextClassificationSet.VocabSize, length, DModel: 64, Layers: 2, Heads: 4, NumClasses: 2);
        MemoryEstimate.Require(MemoryEstimate.Encoder(config, EvaluationBatch, length), $"--length {length}", "lower it");
        var examples = Load(dataSource);
        var set = new TextClassificationSet(examples, 0.2, seed);
        Console.WriteLine($"data: {examples.Count} messages ({set.Train.Count(e => e.Label == 1)} spam of {set.Train.Count} train, {set.HeldOut.Count} held out), {length} bytes each");

        var encoder = new TransformerEncoderClassifier(config, new Generator(seed));
        Module trained = encoder;
        if (adapterConfig is not null) trained = PeftApi.Apply(encoder, adapterConfig);
        Console.WriteLine($"model: encoder d=64, 2 layers, 4 heads, mean pooling; {method}: {ClassifierTraining.Count(trained)}");

        var batches = new Generator(seed + 1);
        ClassifierTraining.Run(trained, steps, lr, printEvery: 50, () =>
        {
            var pick = Tensor.Randint(0, set.Train.Count, [32], generator: batches).ToArray<long>();
            var (ids, padding) = TextClassificationSet.Encode(pick.Select(i => set.Train[(int)i].Text).ToList(), length);
            var labels = Tensor.FromArray(pick.Select(i => (long)set.Train[(int)i].Label).ToArray(), [pick.Length]);
            return Losses.CrossEntropy(encoder.Forward(ids, padding), labels);
        });

        Console.WriteLine($"held out ({set.HeldOut.Count} messages): {Evaluate(encoder, set.HeldOut, length)}");
        return 0;
    }

    // Messages per forward pass when evaluating (training takes 32): the larger bounds the memory.
    const int EvaluationBatch = 64;

    /// <summary>
    /// The examples of <paramref name="source"/>: <c>spamassassin</c> (embedded) or a UTF-8 JSON-lines file, each
    /// labelled 0 (ham) or 1 (spam); any other label is an error naming its line, never a row silently dropped.
    /// </summary>
    public static List<(string Text, int Label)> Load(string source)
    {
        string text, name;
        if (source == "spamassassin")
        {
            using var stream = typeof(ClassifyCommand).Assembly.GetManifestResourceStream("spamassassin/train.jsonl")
                ?? throw new FileNotFoundException("the embedded SpamAssassin data is missing from the executable");
            using var reader = new StreamReader(stream);
            (text, name) = (reader.ReadToEnd(), "embedded spamassassin/train.jsonl");
        }
        else (text, name) = (StrictUtf8.ReadAllText(source, "--data"), source);
        var examples = TextClassificationSet.ReadJsonLines(new StringReader(text), name);
        // ReadJsonLines skips blank lines: example k is the k-th non-blank line.
        var lines = text.Split('\n').Select((line, i) => (line, i)).Where(p => p.line.Trim().Length > 0).Select(p => p.i + 1).ToList();
        for (int k = 0; k < examples.Count; k++)
            if (examples[k].Label is not (0 or 1))
                throw new InvalidDataException($"--data '{name}' line {lines[k]}: label {examples[k].Label}; labels must be 0 (ham) or 1 (spam)");
        if (examples.Count < 2) throw new InvalidDataException($"--data '{name}' has {examples.Count} message(s); at least 2 are needed (one is held out)");
        return examples;
    }

    /// <summary>Metrics of the byte-level encoder on <paramref name="examples"/>.</summary>
    public static BinaryMetrics Evaluate(TransformerEncoderClassifier encoder, IReadOnlyList<(string Text, int Label)> examples, int length)
    {
        encoder.Eval();
        using var _ = Autograd.Autograd.NoGrad();
        var predicted = new List<int>(examples.Count);
        for (int start = 0; start < examples.Count; start += 64)
        {
            var chunk = examples.Skip(start).Take(64).ToList();
            var (ids, padding) = TextClassificationSet.Encode(chunk.Select(e => e.Text).ToList(), length);
            predicted.AddRange(encoder.Forward(ids, padding).ArgMax(-1).ToArray<long>().Select(p => (int)p));
        }
        return BinaryMetrics.Of(examples.Select(e => e.Label).ToList(), predicted);
    }
}
