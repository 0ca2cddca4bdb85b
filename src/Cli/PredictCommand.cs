using System.CommandLine;
using System.Text.Json;
using Engine.Nn;
using Engine.Pretrained;

namespace Engine.Cli;

/// <summary>
/// <c>engine predict</c>: labels messages with a classifier saved by <c>engine classify --model minilm --out DIR</c>.
/// Writes one JSON line per message (<c>{"index", "label", "probability"}</c>, the probability of spam) to
/// <c>--out</c> or stdout, and prints accuracy and F1 when every message of the file has a label.
/// </summary>
static class PredictCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "the base model of the classifier (minilm)", DefaultValueFactory = _ => "minilm" };
        var adapter = new Option<string>("--adapter") { Description = "the folder written by engine classify --model minilm --out", Required = true };
        var data = new Option<string>("--data") { Description = "JSON lines with subject and body (and label, to score)", Required = true };
        var output = ValidatedOption.OptionalOutputFile("--out", "write the predictions here instead of stdout");
        var command = new Command("predict", "label messages with a saved MiniLM classifier; accuracy and F1 when the data has labels");
        foreach (var o in new Option[] { model, adapter, data, output }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(model)!, r.GetValue(adapter)!, r.GetValue(data)!, r.GetValue(output)));
        return command;
    }

    static int Run(string model, string folder, string dataPath, string? output)
    {
        if (model != "minilm") throw new ArgumentException($"--model: saved classifiers are on minilm, got '{model}'");
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"--adapter: no classifier folder at '{folder}'");
        var examples = TextClassificationSet.ReadJsonLines(new StringReader(StrictUtf8.ReadAllText(dataPath, "--data")), dataPath, labelRequired: false);
        if (examples.Count == 0) throw new InvalidDataException($"--data: '{dataPath}' has no messages");

        var classifier = TextClassifier.Load(folder);
        if (classifier.Classes != 2)
            throw new InvalidDataException($"--adapter: '{folder}' classifies into {classifier.Classes} classes; predict labels ham (0) and spam (1)");
        var texts = examples.Select(e => e.Text).ToList();
        var spam = classifier.Probabilities(texts).Narrow(1, 1, 1).ToDoubleArray();
        var truncated = texts.Count(t => classifier.Tokenizer.WordPieces(t).Count > classifier.MaxTokens - 2);
        if (truncated > 0) Console.Error.WriteLine($"notice: {truncated} of {texts.Count} messages are longer than {classifier.MaxTokens} tokens; their ends were not read");

        var predicted = spam.Select(p => p > 0.5 ? 1 : 0).ToList();
        if (output is not null) OutputPath.PrepareFile(output);
        using (var writer = output is null ? null : new StreamWriter(output))
        {
            var sink = writer ?? Console.Out;
            for (int i = 0; i < spam.Length; i++)
                sink.WriteLine(JsonSerializer.Serialize(new { index = i, label = predicted[i], probability = Math.Round(spam[i], 6) }));
        }
        if (output is not null) Console.WriteLine($"wrote {spam.Length} predictions to {output}");
        if (examples.All(e => e.Label is not null))
            Console.WriteLine($"{examples.Count} labelled messages: {BinaryMetrics.Of(examples.Select(e => e.Label!.Value).ToList(), predicted)}");
        return 0;
    }
}
