namespace Engine.Nn;

/// <summary>
/// BERT's input layer (Devlin et al. 2019, section 3): word + position + token-type embeddings, LayerNorm, dropout.
/// Hugging Face names: <c>word_embeddings</c>, <c>position_embeddings</c>, <c>token_type_embeddings</c>, <c>LayerNorm</c>.
/// </summary>
public sealed class BertEmbeddings : Module
{
    public BertEmbeddings(BertConfig config, Generator? generator = null)
    {
        Config = config;
        RegisterModule("word_embeddings", new Embedding(config.VocabSize, config.Hidden, generator));
        RegisterModule("position_embeddings", new Embedding(config.MaxPositions, config.Hidden, generator));
        RegisterModule("token_type_embeddings", new Embedding(config.TypeVocabSize, config.Hidden, generator));
        RegisterModule("LayerNorm", new LayerNorm(config.Hidden, config.LayerNormEps));
        RegisterModule("dropout", new Dropout(config.Dropout, generator));
    }

    public BertConfig Config { get; }

    /// <summary>The word embedding table (the original layer even when an adapter wraps it).</summary>
    public Embedding WordEmbeddings => Unwrapped<Embedding>("word_embeddings");

    /// <summary>Word embeddings of token ids [B, T] (what prompt tuning puts virtual tokens before).</summary>
    public Tensor Words(Tensor ids) => Child("word_embeddings").Forward(ids);

    /// <summary>
    /// Adds position (<paramref name="firstPosition"/>, ...) and token-type embeddings to <paramref name="words"/>
    /// [B, L, H], then normalises. <paramref name="tokenTypes"/> [B, L] defaults to type 0 everywhere.
    /// </summary>
    public Tensor Forward(Tensor words, int firstPosition, Tensor? tokenTypes)
    {
        int b = words.Size(0), l = words.Size(1);
        if (firstPosition + l > Config.MaxPositions)
            throw new ArgumentException($"Bert: {firstPosition + l} positions exceed max_position_embeddings {Config.MaxPositions}; truncate the input");
        var positions = Tensor.Arange(firstPosition, firstPosition + l, 1, DType.Int64, words.Device);
        tokenTypes ??= Tensor.Zeros([b, l], DType.Int64, words.Device);
        var sum = words + Child("position_embeddings").Forward(positions) + Child("token_type_embeddings").Forward(tokenTypes);
        return Child("dropout").Forward(Child("LayerNorm").Forward(sum));
    }
}
