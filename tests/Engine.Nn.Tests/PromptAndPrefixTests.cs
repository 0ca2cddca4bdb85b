using Engine.Autograd;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

/// <summary>Virtual tokens (IPromptableModel) and key/value prefixes (IPrefixableModel) on the built-in models, against naive references.</summary>
public class PromptAndPrefixTests
{
    static readonly Tensor TokenIds = Ids(new long[,] { { 1, 2, 3, 4 }, { 5, 6, 7, 8 } });
    static readonly Tensor PrefixIds = Ids(new long[,] { { 9, 3, 1 }, { 2, 10, 4 } });

    static Gpt MakeGpt(GptConfig? config = null)
    {
        var gpt = new Gpt(config ?? new GptConfig(11, 12, 16, 2, 4, KvHeads: 2, MlpRatio: 2), new Generator(5));
        gpt.Eval();
        return gpt;
    }

    static TransformerEncoderClassifier MakeClassifier(int layers, EncoderPooling pooling = EncoderPooling.Mean)
    {
        var m = new TransformerEncoderClassifier(new TransformerEncoderConfig(12, 10, 16, layers, 4, 3, pooling, MlpRatio: 2), new Generator(7));
        m.Eval();
        return m;
    }

    [Theory]
    [InlineData(null)]
    [InlineData("s4d")]
    public void GptPrompt_EqualsTheLastPositionsOfTheConcatenatedEmbeddings(string? mixer)
    {
        var gpt = MakeGpt(mixer is null ? null : new GptConfig(11, 12, 16, 2, 4, MlpRatio: 2, Mixers: ["attention", mixer], S4DStateSize: 4));
        var prompt = Randn(1, 2, 3, 16);
        var expected = gpt.ForwardEmbeddings(Tensor.Concat([prompt, gpt.Tok.Forward(TokenIds)], 1), null).Narrow(1, 3, 4);
        AssertClose(expected, gpt.ForwardWithPrompt(TokenIds, prompt), 1e-5);
    }

    [Fact]
    public void GptPrompt_GradientReachesTheVirtualTokens()
    {
        var gpt = MakeGpt();
        var prompt = Randn(2, 2, 3, 16);
        prompt.RequiresGrad = true;
        gpt.ForwardWithPrompt(TokenIds, prompt).Square().Sum().Backward();
        Assert.NotNull(prompt.Grad);
        Assert.True(prompt.Grad!.Abs().Sum().Item() > 0);
    }

    [Fact]
    public void GptPrefix_OfCachedKeysAndValuesEqualsContinuingTheCache()
    {
        var gpt = MakeGpt();
        var cache = gpt.CreateCache();
        gpt.Forward(PrefixIds, cache);
        var prefixes = Enumerable.Range(0, cache.Layers).Select(i => (LayerKvCache)cache[i]).Select(c => (c.Keys!, c.Values!)).ToList();
        var withPrefix = gpt.ForwardWithPrefix(TokenIds, prefixes);
        AssertClose(gpt.Forward(TokenIds, cache), withPrefix, 1e-5);
    }

    [Fact]
    public void GptPrefix_PaddingMaskCoversTheRealTokensOnly()
    {
        var gpt = MakeGpt();
        var geometry = gpt.PrefixGeometry;
        Assert.Equal(new PrefixGeometry(2, 2, 4, 16), geometry);
        var prefixes = Enumerable.Range(0, 2).Select(i => (Randn((ulong)(10 + i), 2, 2, 3, 4), Randn((ulong)(20 + i), 2, 2, 3, 4))).ToList();
        var none = Tensor.Zeros([2, 4], DType.Bool);
        AssertClose(gpt.ForwardWithPrefix(TokenIds, prefixes), gpt.ForwardWithPrefix(TokenIds, prefixes, none), 1e-6);
    }

    [Fact]
    public void GptPrefix_GradientReachesKeysAndValues()
    {
        var gpt = MakeGpt();
        var prefixes = Enumerable.Range(0, 2).Select(i => (Randn((ulong)(10 + i), 2, 2, 3, 4), Randn((ulong)(20 + i), 2, 2, 3, 4))).ToList();
        foreach (var (k, v) in prefixes) { k.RequiresGrad = true; v.RequiresGrad = true; }
        gpt.ForwardWithPrefix(TokenIds, prefixes).Square().Sum().Backward();
        foreach (var (k, v) in prefixes)
        {
            Assert.True(k.Grad!.Abs().Sum().Item() > 0);
            Assert.True(v.Grad!.Abs().Sum().Item() > 0);
        }
    }

    [Fact]
    public void GptPrefix_ThrowsNamingTheLayerThatIsNotAttention()
    {
        var gpt = MakeGpt(new GptConfig(11, 12, 16, 2, 4, MlpRatio: 2, Mixers: ["attention", "s4d"], S4DStateSize: 4));
        var e = Assert.Throws<NotSupportedException>(() => gpt.PrefixGeometry);
        Assert.Contains("blocks.1.s4d", e.Message);
    }

    [Fact]
    public void GptPrefix_RejectsPrefixesOfTheWrongShape()
    {
        var gpt = MakeGpt();
        var prefixes = Enumerable.Range(0, 2).Select(i => (Randn(1, 2, 4, 3, 4), Randn(2, 2, 4, 3, 4))).ToList();
        Assert.Throws<ArgumentException>(() => gpt.ForwardWithPrefix(TokenIds, prefixes));
    }

    // Reference for the one-layer classifier over the concatenated sequence [extra; real], pooled over the real tokens.
    static Tensor ClassifyRealTokens(TransformerEncoderClassifier m, Tensor embeddings, int n, Tensor? mask)
    {
        int l = embeddings.Size(1);
        var x = embeddings + m.Pos.Forward(Tensor.Arange(l));
        var keyMask = mask is null ? null : Tensor.Concat([Tensor.Zeros([2, n]), mask.To(DType.Float32)], 1).To(DType.Bool);
        for (int i = 0; i < m.Blocks.Count; i++) x = m.Blocks[i].Forward(x, keyMask, null);
        x = m.LnF.Forward(x).Narrow(1, n, l - n);
        var pooled = mask is null ? x.Mean(1) : (x * mask.LogicalNot().To(DType.Float32).Unsqueeze(-1)).Sum(1) / mask.LogicalNot().To(DType.Float32).Sum(1).Unsqueeze(-1);
        return m.Head.Forward(pooled);
    }

    [Fact]
    public void ClassifierPrompt_PositionsTheWholeSequenceAndPoolsTheRealTokens()
    {
        var m = MakeClassifier(2);
        var prompt = Randn(3, 2, 3, 16);
        var mask = Tensor.FromArray(new bool[,] { { false, false, false, true }, { false, false, false, false } });
        var expected = ClassifyRealTokens(m, Tensor.Concat([prompt, m.Tok.Forward(TokenIds)], 1), 3, mask);
        AssertClose(expected, m.ForwardWithPrompt(TokenIds, prompt, mask), 1e-5);
    }

    [Fact]
    public void ClassifierPrompt_GradientReachesTheVirtualTokens()
    {
        var m = MakeClassifier(1);
        var prompt = Randn(3, 2, 3, 16);
        prompt.RequiresGrad = true;
        m.ForwardWithPrompt(TokenIds, prompt).Square().Sum().Backward();
        Assert.True(prompt.Grad!.Abs().Sum().Item() > 0);
    }

    [Fact]
    public void ClassifierPrefix_OfAOneLayerModelEqualsAttendingToExtraTokens()
    {
        // With one layer, prefix keys and values computed from extra tokens placed before the real ones give the real
        // tokens exactly what they get in a run over [extra; real] (whose extra positions are then not pooled).
        var m = MakeClassifier(1);
        var mask = Tensor.FromArray(new bool[,] { { false, false, true, true }, { false, false, false, false } });
        var all = Tensor.Concat([m.Tok.Forward(PrefixIds), m.Tok.Forward(TokenIds)], 1);
        var expected = ClassifyRealTokens(m, all, 3, mask);

        var block = m.Blocks[0];
        var qkv = block.Attn.Qkv.Forward(block.Ln1.Forward((all + m.Pos.Forward(Tensor.Arange(7))).Narrow(1, 0, 3)));
        Tensor Heads(int start) => qkv.Narrow(-1, start, 16).Reshape(2, 3, 4, 4).Transpose(1, 2);
        var prefixes = new List<(Tensor, Tensor)> { (Heads(16), Heads(32)) };
        AssertClose(expected, m.ForwardWithPrefix(TokenIds, prefixes, mask), 1e-5);
    }

    [Fact]
    public void ClassifierPrefix_GradientReachesKeysAndValuesOfEveryLayer()
    {
        var m = MakeClassifier(2);
        Assert.Equal(new PrefixGeometry(2, 4, 4, 16), m.PrefixGeometry);
        var prefixes = Enumerable.Range(0, 2).Select(i => (Randn((ulong)(30 + i), 2, 4, 2, 4), Randn((ulong)(40 + i), 2, 4, 2, 4))).ToList();
        foreach (var (k, v) in prefixes) { k.RequiresGrad = true; v.RequiresGrad = true; }
        m.ForwardWithPrefix(TokenIds, prefixes).Square().Sum().Backward();
        foreach (var (k, v) in prefixes)
        {
            Assert.True(k.Grad!.Abs().Sum().Item() > 0);
            Assert.True(v.Grad!.Abs().Sum().Item() > 0);
        }
    }

    [Fact]
    public void TokenEmbedding_IsTheOriginalTableEvenWhenWrapped()
    {
        var gpt = MakeGpt();
        var tok = gpt.Tok;
        Assert.Same(tok, ((IPromptableModel)gpt).TokenEmbedding);
        var classifier = MakeClassifier(1);
        Assert.Same(classifier.Tok, ((IPromptableModel)classifier).TokenEmbedding);
    }
}
