using Engine;
using Engine.Pretrained;

namespace Samples.SentenceSimilarity;

/// <summary>One document and how close it is to the query (cosine similarity of unit-length embeddings, in [-1, 1]).</summary>
public sealed record Match(string Document, double Similarity);

/// <summary>
/// Semantic search over a handful of sentences: every sentence becomes a 384-number vector of all-MiniLM-L6-v2
/// (mean pooling, unit length), so the cosine similarity of two sentences is the dot product of their vectors.
/// </summary>
public sealed class SemanticSearch
{
    readonly SentenceEmbedder _embedder;
    readonly Tensor _documentVectors;

    /// <summary>Embeds <paramref name="documents"/> once with <paramref name="embedder"/> (load it with <see cref="SentenceEmbedder.LoadMiniLm"/>).</summary>
    public SemanticSearch(SentenceEmbedder embedder, IReadOnlyList<string> documents)
    {
        if (documents.Count == 0) throw new ArgumentException("SemanticSearch: give at least one document", nameof(documents));
        _embedder = embedder;
        Documents = documents;
        _documentVectors = embedder.Embed(documents);   // [N, 384], rows of length 1
    }

    public IReadOnlyList<string> Documents { get; }

    /// <summary>The documents ordered from most to least similar to <paramref name="query"/>.</summary>
    public IReadOnlyList<Match> Search(string query)
    {
        var q = _embedder.Embed([query]);                                   // [1, 384]
        var similarities = _documentVectors.MatMul(q.T).ToDoubleArray();   // [N, 1]: one dot product per document
        return Documents.Select((d, i) => new Match(d, similarities[i])).OrderByDescending(m => m.Similarity).ToList();
    }
}
