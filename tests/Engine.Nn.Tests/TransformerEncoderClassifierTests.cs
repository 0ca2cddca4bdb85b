using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

public class TransformerEncoderClassifierTests
{
    static TransformerEncoderClassifier Model(EncoderPooling pooling, ulong seed = 1)
    {
        var m = new TransformerEncoderClassifier(new TransformerEncoderConfig(12, 8, 16, 2, 4, 3, pooling, MlpRatio: 2), new Generator(seed));
        m.Eval();
        return m;
    }

    [Fact]
    public void Forward_GivesOneRowOfClassLogitsPerSequence()
    {
        var logits = Model(EncoderPooling.Mean).Forward(Ids(new long[,] { { 1, 2, 3 }, { 4, 5, 6 } }), null);
        Assert.Equal([2, 3], logits.Shape);
        Assert.All(logits.ToDoubleArray(), v => Assert.True(double.IsFinite(v)));
    }

    [Fact]
    public void ParameterNames_FollowTheGptLayoutWithAHead()
    {
        var names = Model(EncoderPooling.Mean).NamedParameters().Select(p => p.Name).ToList();
        Assert.Equal(["tok.weight", "pos.weight", "blocks.0.ln1.weight"], names.Take(3));
        Assert.Contains("blocks.1.attn.qkv.weight", names);
        Assert.Equal(["ln_f.weight", "ln_f.bias", "head.weight", "head.bias"], names.TakeLast(4));
    }

    [Theory]
    [InlineData(EncoderPooling.Mean)]
    [InlineData(EncoderPooling.FirstToken)]
    public void TrailingPadding_MaskedOut_LeavesTheLogitsOfTheUnpaddedSequence(EncoderPooling pooling)
    {
        var m = Model(pooling);
        var plain = m.Forward(Ids(new long[,] { { 7, 3, 9 } }), null);
        var padded = m.Forward(Ids(new long[,] { { 7, 3, 9, 0, 11 }, { 7, 3, 9, 5, 5 } }),
            Tensor.FromArray(new bool[,] { { false, false, false, true, true }, { false, false, false, true, true } }));
        AssertClose(plain.ToDoubleArray(), padded.Select(0, 0).ToDoubleArray(), 1e-5);
        AssertClose(plain.ToDoubleArray(), padded.Select(0, 1).ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void FirstTokenPooling_SeesLaterPositionsBecauseAttentionIsNotCausal()
    {
        var m = Model(EncoderPooling.FirstToken);
        var a = m.Forward(Ids(new long[,] { { 1, 2, 3, 4 } }), null).ToDoubleArray();
        var b = m.Forward(Ids(new long[,] { { 1, 2, 3, 10 } }), null).ToDoubleArray();
        Assert.True(a.Zip(b).Any(p => Math.Abs(p.First - p.Second) > 1e-4), "the first position should attend to the last");
    }

    [Theory]
    [InlineData(EncoderPooling.Mean)]
    [InlineData(EncoderPooling.FirstToken)]
    public void Pooling_EqualsTheHeadAppliedToTheNaivelyPooledFinalStates(EncoderPooling pooling)
    {
        var m = Model(pooling, seed: 3);
        var ids = Ids(new long[,] { { 4, 8, 1, 2 }, { 5, 6, 0, 0 } });
        var padding = new bool[,] { { false, false, false, false }, { false, false, true, true } };
        var mask = Tensor.FromArray(padding);
        // The final states through the model's own pieces; the pooling is done by loops.
        var h = m.Tok.Forward(ids) + m.Pos.Forward(Tensor.Arange(4));
        for (int i = 0; i < m.Blocks.Count; i++) h = m.Blocks[i].Forward(h, mask, null);
        var states = m.LnF.Forward(h).ToDoubleArray();
        int c = 16;
        var pooled = new double[2 * c];
        for (int b = 0; b < 2; b++)
        {
            var real = Enumerable.Range(0, 4).Where(t => !padding[b, t]).ToList();
            var used = pooling == EncoderPooling.Mean ? real : [0];
            for (int e = 0; e < c; e++) pooled[b * c + e] = used.Average(t => states[(b * 4 + t) * c + e]);
        }
        var expected = NaiveLinear(pooled, 2, m.Head.Weight.ToDoubleArray(), m.Head.Bias!.ToDoubleArray(), c, 3);
        AssertClose(expected, m.Forward(ids, mask).ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void AllFalseMask_GivesTheSameLogitsAsNoMask()
    {
        var m = Model(EncoderPooling.Mean);
        var ids = Ids(new long[,] { { 4, 8, 1, 2 } });
        AssertClose(m.Forward(ids, null).ToDoubleArray(), m.Forward(ids, Tensor.Zeros([1, 4], DType.Bool)).ToDoubleArray(), 1e-6);
    }

    [Fact]
    public void Forward_RejectsAMaskOfAnotherShapeAndTooLongSequences()
    {
        var m = Model(EncoderPooling.Mean);
        Assert.Throws<ArgumentException>(() => m.Forward(Ids(new long[,] { { 1, 2 } }), Tensor.Zeros([1, 3], DType.Bool)));
        var e = Assert.Throws<ArgumentException>(() => m.Forward(Tensor.Zeros([1, 9], DType.Int64), null));
        Assert.Contains("context length 8", e.Message);
    }

    [Fact]
    public void Classifier_LearnsToSeparateTwoTokenPatterns()
    {
        var m = new TransformerEncoderClassifier(new TransformerEncoderConfig(6, 4, 16, 1, 2, 2, MlpRatio: 2), new Generator(5));
        var ids = Ids(new long[,] { { 1, 1, 2, 0 }, { 2, 1, 1, 0 }, { 3, 3, 4, 4 }, { 4, 3, 3, 0 } });
        var mask = Tensor.FromArray(new bool[,] { { false, false, false, true }, { false, false, false, true }, { false, false, false, false }, { false, false, false, true } });
        var labels = Tensor.FromArray(new long[] { 0, 0, 1, 1 });
        var opt = new AdamW(m.Parameters(), lr: 1e-2, weightDecay: 0);
        double loss = 0;
        for (int step = 0; step < 40; step++)
        {
            opt.ZeroGrad();
            var l = Losses.CrossEntropy(m.Forward(ids, mask), labels);
            loss = l.Item();
            Autograd.Autograd.Backward(l);
            opt.Step();
        }
        Assert.True(loss < 0.05, $"loss after 40 steps is {loss}");
    }
}
