using System.Text.RegularExpressions;
using Engine.Nn;
using Engine.Pretrained;

namespace Engine.Cli;

/// <summary>
/// The three tasks and the inputs of <c>engine task-experts</c> (spec seeds-remaining.md §7's demo, adapted): from each
/// SpamAssassin message, labels spam/ham, "reply" (the subject starts with "Re:") and "list" (the subject carries a
/// mailing-list tag such as "[SAtalk]"). The spec's HTML and sender-domain tasks cannot be derived: the embedded subset
/// keeps only subject and plain-text body. The markers are removed from the subject before it is encoded, so the
/// reply and list tasks must be inferred from the rest (quoted text, list footers) and partly conflict with spam
/// (spam is rarely a reply, 5% carry a tag). Fields (frozen all-MiniLM-L6-v2 sentence embeddings, 384 wide): the
/// cleaned subject, the body's first tokens, the body's last 600 characters, and five header flags (subject mostly
/// upper case, '!' or '$' in the subject, a link in the body, a long body). Behaviour sequences for DTRN: the
/// static WordPiece embeddings (MiniLM's input table) of the subject's and the body's first tokens.
/// </summary>
sealed class SpamTaskData
{
    /// <summary>The tasks' names in label order.</summary>
    public static readonly string[] TaskNames = ["spam", "reply", "list"];

    /// <summary>The number of header flags.</summary>
    public const int FlagCount = 5;

    /// <summary>[N, 3, 384] sentence embeddings of subject, body start and body end.</summary>
    public required Tensor Fields { get; init; }

    /// <summary>[N, 5] header flags in {0, 1}.</summary>
    public required Tensor Flags { get; init; }

    /// <summary>[N, Ls, 384] and [N, Lb, 384] token embeddings with their padding masks (true at padding).</summary>
    public required IReadOnlyList<(Tensor Sequence, Tensor Padding)> Sequences { get; init; }

    /// <summary>[N, 3] labels in {0, 1}.</summary>
    public required int[,] Labels { get; init; }

    /// <summary>N.</summary>
    public int Count => Labels.GetLength(0);

    static readonly Regex ListTag = new(@"\[[^\]]+\]", RegexOptions.Compiled);
    static readonly Regex Reply = new(@"^\s*re\s*:", RegexOptions.Compiled | RegexOptions.IgnoreCase);
    static readonly Regex ReplyPrefix = new(@"^\s*(re|fwd?)\s*:\s*", RegexOptions.Compiled | RegexOptions.IgnoreCase);

    /// <summary>The labels of one message (subject, body, spam label).</summary>
    public static int[] LabelsOf(string subject, int spam) => [spam, Reply.IsMatch(subject) ? 1 : 0, ListTag.IsMatch(subject) ? 1 : 0];

    /// <summary>The subject without reply prefixes and list tags.</summary>
    public static string CleanSubject(string subject)
    {
        string s = subject;
        for (string previous = ""; previous != s;) (previous, s) = (s, ListTag.Replace(ReplyPrefix.Replace(s, ""), " ").Trim());
        return s;
    }

    /// <summary>The header flags of one message.</summary>
    public static float[] FlagsOf(string subject, string body)
    {
        int letters = subject.Count(char.IsLetter);
        return [letters > 3 && subject.Count(char.IsUpper) > letters / 2 ? 1 : 0, subject.Contains('!') ? 1 : 0, subject.Contains('$') ? 1 : 0,
            body.Contains("http", StringComparison.OrdinalIgnoreCase) ? 1 : 0, body.Length > 2000 ? 1 : 0];
    }

    /// <summary>Encodes the messages (subject, body, spam label) with <paramref name="embedder"/>; prints progress to <paramref name="log"/>.</summary>
    public static SpamTaskData Build(IReadOnlyList<(string Subject, string Body, int Spam)> messages, SentenceEmbedder embedder, int subjectTokens, int bodyTokens, TextWriter log)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var subjects = messages.Select(m => CleanSubject(m.Subject)).ToList();
        var bodyStarts = messages.Select(m => m.Body).ToList();
        var bodyEnds = messages.Select(m => m.Body.Length > 600 ? m.Body[^600..] : m.Body).ToList();
        var fields = Tensor.Stack([embedder.Embed(subjects), embedder.Embed(bodyStarts), embedder.Embed(bodyEnds)], 1);
        log.WriteLine($"encoded {messages.Count} messages x 3 fields with all-MiniLM-L6-v2 ({clock.Elapsed.TotalSeconds:F0} s)");
        var table = embedder.Bert.Embeddings.WordEmbeddings.Weight.Detach();
        (Tensor, Tensor) Sequence(IReadOnlyList<string> texts, int length)
        {
            var batch = embedder.Tokenizer.Encode(texts, length);
            return (table.Embedding(batch.Ids), batch.PaddingMask);
        }
        var labels = new int[messages.Count, 3];
        for (int i = 0; i < messages.Count; i++)
        {
            var row = LabelsOf(messages[i].Subject, messages[i].Spam);
            for (int t = 0; t < 3; t++) labels[i, t] = row[t];
        }
        return new SpamTaskData
        {
            Fields = fields,
            Flags = Tensor.FromArray(messages.SelectMany(m => FlagsOf(m.Subject, m.Body)).ToArray(), [messages.Count, FlagCount]),
            Sequences = [Sequence(subjects, subjectTokens), Sequence(bodyStarts, bodyTokens)],
            Labels = labels,
        };
    }
}
