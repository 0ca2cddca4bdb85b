using System.Text;
using System.Text.Json;

namespace Engine.Nn;

/// <summary>
/// Labelled texts for classification (e.g. the SpamAssassin subset: JSON lines with <c>subject</c>, <c>body</c>,
/// <c>label</c>), split into training and held-out sets, served as byte-level batches: each text's UTF-8 bytes are
/// its token ids (0..255), padded with id 256 to a fixed length with a padding mask.
/// </summary>
public sealed class TextClassificationSet
{
    /// <summary>The padding token id (after the 256 byte values).</summary>
    public const int PadId = 256;

    /// <summary>Vocabulary size of the byte-level encoding, padding included.</summary>
    public const int VocabSize = 257;

    /// <summary>Training examples.</summary>
    public IReadOnlyList<(string Text, int Label)> Train { get; }

    /// <summary>Held-out examples.</summary>
    public IReadOnlyList<(string Text, int Label)> HeldOut { get; }

    /// <summary>Shuffles the examples with <paramref name="seed"/> and holds out the last <paramref name="heldOutFraction"/>.</summary>
    public TextClassificationSet(IReadOnlyList<(string Text, int Label)> examples, double heldOutFraction = 0.2, ulong seed = 0)
    {
        if (examples.Count < 2) throw new ArgumentException($"TextClassificationSet: needs at least 2 examples, got {examples.Count}");
        var keys = Tensor.Rand([examples.Count], dtype: DType.Float64, generator: new Generator(seed)).ToArray<double>();
        var order = Enumerable.Range(0, examples.Count).OrderBy(i => keys[i]).Select(i => examples[i]).ToList();
        int held = Math.Clamp((int)Math.Round(examples.Count * heldOutFraction), 1, examples.Count - 1);
        Train = order.Take(order.Count - held).ToList();
        HeldOut = order.Skip(order.Count - held).ToList();
    }

    /// <summary>Reads JSON lines with <c>subject</c>, <c>body</c> and an integer <c>label</c>; the text is subject, newline, body.</summary>
    /// <exception cref="InvalidDataException">A line is not a JSON object or has no integer label (source and line named).</exception>
    public static List<(string Text, int Label)> ReadJsonLines(TextReader reader, string source) =>
        ReadJsonLines(reader, source, labelRequired: true).Select(e => (e.Text, e.Label!.Value)).ToList();

    /// <summary>
    /// Reads JSON lines with <c>subject</c> and <c>body</c> and, unless <paramref name="labelRequired"/>, an optional
    /// integer <c>label</c> (null where absent), for labelling new messages.
    /// </summary>
    /// <exception cref="InvalidDataException">A line is not a JSON object, or a label is not an integer (source and line named).</exception>
    public static List<(string Text, int? Label)> ReadJsonLines(TextReader reader, string source, bool labelRequired)
    {
        var examples = new List<(string, int?)>();
        int lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Trim().Length == 0) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                string subject = root.TryGetProperty("subject", out var s) ? s.GetString() ?? "" : "";
                string body = root.TryGetProperty("body", out var b) ? b.GetString() ?? "" : "";
                int? label = labelRequired || root.TryGetProperty("label", out _) ? root.GetProperty("label").GetInt32() : null;
                examples.Add((subject + "\n" + body, label));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"TextClassificationSet: {source} line {lineNumber} is not a JSON object with {(labelRequired ? "an" : "an optional")} integer 'label': {e.Message}");
            }
        }
        return examples;
    }

    /// <summary>Token ids [n, length] (bytes, then padding) and the padding mask [n, length] (true at padding).</summary>
    public static (Tensor Ids, Tensor Padding) Encode(IReadOnlyList<string> texts, int length)
    {
        var ids = new long[texts.Count * length];
        var pad = new bool[texts.Count * length];
        for (int i = 0; i < texts.Count; i++)
        {
            var bytes = Encoding.UTF8.GetBytes(texts[i]);
            int n = Math.Max(1, Math.Min(bytes.Length, length)); // every row keeps one non-padding position
            for (int t = 0; t < length; t++)
            {
                bool isPad = t >= n;
                ids[i * length + t] = isPad ? PadId : t < bytes.Length ? bytes[t] : PadId;
                pad[i * length + t] = isPad;
            }
        }
        return (Tensor.FromArray(ids, [texts.Count, length]), Tensor.FromArray(pad, [texts.Count, length]));
    }
}
