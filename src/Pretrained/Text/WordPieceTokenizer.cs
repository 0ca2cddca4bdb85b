using Microsoft.ML.Tokenizers;

namespace Engine.Pretrained.Text;

/// <summary>
/// Token ids of a batch of texts for a BERT encoder: <see cref="Ids"/> and <see cref="PaddingMask"/> [B, T] (true at
/// padding, the engine's convention; Hugging Face's attention_mask is its negation), each row's token count, and which
/// rows were cut to the maximum length.
/// </summary>
public sealed record TokenBatch(Tensor Ids, Tensor PaddingMask, int[] Lengths, bool[] Truncated);

/// <summary>
/// BERT's WordPiece tokenisation (Devlin et al. 2019) by Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/>, as
/// Hugging Face's uncased BertTokenizer does it: lower-casing, accents stripped, punctuation and CJK characters split,
/// then [CLS] tokens [SEP], cut to the maximum length (the [SEP] kept) and padded with [PAD] to the longest row.
/// </summary>
public sealed class WordPieceTokenizer
{
    readonly BertTokenizer _tokenizer;
    readonly bool _stripAccents;

    WordPieceTokenizer(BertTokenizer tokenizer, bool stripAccents) { _tokenizer = tokenizer; _stripAccents = stripAccents; }

    /// <summary>A tokenizer over a vocab.txt (one token per line, the line number is the id).</summary>
    /// <exception cref="InvalidDataException">The vocabulary lacks [CLS], [SEP], [PAD] or [UNK].</exception>
    public static WordPieceTokenizer FromVocabulary(byte[] vocabulary, bool lowerCase = true)
    {
        var text = System.Text.Encoding.UTF8.GetString(vocabulary);
        foreach (var special in new[] { "[CLS]", "[SEP]", "[PAD]", "[UNK]" })
            if (!text.Contains(special, StringComparison.Ordinal))
                throw new InvalidDataException($"WordPieceTokenizer: the vocabulary has no {special} token");
        using var stream = new MemoryStream(vocabulary);
        // Accents are stripped by AccentStripper: BertTokenizer's RemoveNonSpacingMarks does not decompose under InvariantGlobalization.
        var options = new BertOptions { LowerCaseBeforeTokenization = lowerCase, RemoveNonSpacingMarks = false, IndividuallyTokenizeCjk = true };
        return new WordPieceTokenizer(BertTokenizer.Create(stream, options), lowerCase);
    }

    /// <summary>The id of [PAD].</summary>
    public int PadId => _tokenizer.PaddingTokenId;

    /// <summary>The word pieces of one text, without special tokens.</summary>
    public IReadOnlyList<int> WordPieces(string text) =>
        _tokenizer.EncodeToIds(_stripAccents ? AccentStripper.Strip(text) : text, addSpecialTokens: false);

    /// <summary>
    /// [CLS] pieces [SEP] of each text, at most <paramref name="maxTokens"/> tokens (longer texts lose their end and are
    /// flagged in <see cref="TokenBatch.Truncated"/>), padded to the longest row.
    /// </summary>
    public TokenBatch Encode(IReadOnlyList<string> texts, int maxTokens)
    {
        if (maxTokens < 2) throw new ArgumentException($"WordPieceTokenizer: maxTokens must leave room for [CLS] and [SEP], got {maxTokens}");
        var rows = new List<int[]>(texts.Count);
        var truncated = new bool[texts.Count];
        for (int i = 0; i < texts.Count; i++)
        {
            var pieces = WordPieces(texts[i] ?? "");
            truncated[i] = pieces.Count > maxTokens - 2;
            var row = new int[Math.Min(pieces.Count, maxTokens - 2) + 2];
            row[0] = _tokenizer.ClassificationTokenId;
            for (int j = 1; j < row.Length - 1; j++) row[j] = pieces[j - 1];
            row[^1] = _tokenizer.SeparatorTokenId;
            rows.Add(row);
        }
        int width = rows.Count == 0 ? 0 : rows.Max(r => r.Length);
        var ids = new long[rows.Count * width];
        var padding = new bool[rows.Count * width];
        for (int i = 0; i < rows.Count; i++)
            for (int j = 0; j < width; j++)
            {
                bool real = j < rows[i].Length;
                ids[i * width + j] = real ? rows[i][j] : PadId;
                padding[i * width + j] = !real;
            }
        return new TokenBatch(Tensor.FromArray(ids, [rows.Count, width]), Tensor.FromArray(padding, [rows.Count, width]),
            rows.Select(r => r.Length).ToArray(), truncated);
    }
}
