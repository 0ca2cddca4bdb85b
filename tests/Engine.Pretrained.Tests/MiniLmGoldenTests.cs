namespace Engine.Pretrained.Tests;

/// <summary>The engine's MiniLM against the oracle: token ids exactly, hidden states within 1e-4, embeddings within 1e-5.</summary>
public sealed class MiniLmGoldenTests(MiniLmFixture fixture) : IClassFixture<MiniLmFixture>
{
    [Fact]
    public void Token_ids_match_an_independent_WordPiece()
    {
        var batch = fixture.Embedder.Tokenizer.Encode(fixture.Sentences, fixture.Embedder.MaxTokens);
        for (int i = 0; i < fixture.Sentences.Length; i++)
        {
            var expected = fixture.Golden[$"ids.{i}"].ToDoubleArray();
            var row = batch.Ids.Select(0, i).Narrow(0, 0, batch.Lengths[i]).ToDoubleArray();
            Assert.True(expected.SequenceEqual(row), $"sentence {i}: expected [{string.Join(' ', expected)}], got [{string.Join(' ', row)}]");
        }
    }

    [Fact]
    public void Last_hidden_state_of_a_padded_batch_matches_each_sentence_run_alone_within_1e_4()
    {
        var embedder = fixture.Embedder;
        var batch = embedder.Tokenizer.Encode(fixture.Sentences, embedder.MaxTokens);
        Tensor hidden;
        using (Engine.Autograd.Autograd.NoGrad()) hidden = embedder.Bert.Encode(batch.Ids, null, batch.PaddingMask, null, null);
        for (int i = 0; i < fixture.Sentences.Length; i++)
        {
            var expected = fixture.Golden[$"hidden.{i}"].ToDoubleArray();
            var actual = hidden.Select(0, i).Narrow(0, 0, batch.Lengths[i]).ToDoubleArray();
            Assert.Equal(expected.Length, actual.Length);
            double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
            Assert.True(worst <= 1e-4, $"sentence {i}: largest difference {worst:G3}");
        }
    }

    [Fact]
    public void Sentence_embeddings_match_within_1e_5_and_cosine_above_0_99999()
    {
        var actual = fixture.Embedder.Embed(fixture.Sentences);
        var expected = fixture.Golden["embeddings"];
        Assert.Equal(expected.Shape, actual.Shape);
        for (int i = 0; i < fixture.Sentences.Length; i++)
        {
            var e = expected.Select(0, i).ToDoubleArray();
            var a = actual.Select(0, i).ToDoubleArray();
            double worst = e.Zip(a, (x, y) => Math.Abs(x - y)).Max();
            double cosine = e.Zip(a, (x, y) => x * y).Sum() / Math.Sqrt(e.Sum(x => x * x) * a.Sum(x => x * x));
            Assert.True(worst <= 1e-5, $"sentence {i}: largest difference {worst:G3}");
            Assert.True(cosine > 0.99999, $"sentence {i}: cosine {cosine:G8}");
        }
    }

    [Fact]
    public void Only_the_long_sentence_is_reported_truncated()
    {
        fixture.Embedder.Embed(fixture.Sentences);
        int longest = Array.FindIndex(fixture.Sentences, s => s.Length > 1000);
        Assert.Equal([longest], fixture.Embedder.LastTruncated);
        Assert.Equal(fixture.Embedder.MaxTokens, fixture.Golden[$"ids.{longest}"].Size(0));
    }

    [Fact]
    public void Embeddings_do_not_depend_on_the_batching()
    {
        var one = fixture.Embedder.Embed(fixture.Sentences, batchSize: 1);
        var all = fixture.Embedder.Embed(fixture.Sentences, batchSize: 32);
        double worst = one.ToDoubleArray().Zip(all.ToDoubleArray(), (x, y) => Math.Abs(x - y)).Max();
        Assert.True(worst <= 1e-6, $"largest difference {worst:G3}");
    }

    [Fact]
    public void Similar_sentences_are_closer_than_unrelated_ones()
    {
        var e = fixture.Embedder.Embed(["A cat sits on the mat.", "A kitten rests on a rug.", "The stock market fell sharply on Tuesday."]);
        double similar = (e.Select(0, 0) * e.Select(0, 1)).Sum().Item();
        double unrelated = (e.Select(0, 0) * e.Select(0, 2)).Sum().Item();
        Assert.True(similar > 0.5 && unrelated < 0.2, $"cosine(cat, kitten) {similar:F3}, cosine(cat, market) {unrelated:F3}");
    }
}
