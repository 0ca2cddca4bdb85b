using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

/// <summary>Gradients of the layers, models and losses checked against finite differences in Float64.</summary>
public class GradientTests
{
    static T Float64<T>(T module, ulong seed, double std = 0.5) where T : Module
    {
        ScrambleAll(module, seed, std);
        module.To(DType.Float64);
        return module;
    }

    [Fact]
    public void Linear_GradientsMatchFiniteDifferences()
    {
        var lin = Float64(new Linear(4, 3), 1);
        var x = Randn64(2, 2, 3, 4);
        AssertInputGradients(xs => lin.Forward(xs[0]), x);
        AssertParameterGradients(lin, () => lin.Forward(x));
    }

    [Fact]
    public void LayerNorm_GradientsMatchFiniteDifferences()
    {
        var ln = Float64(new LayerNorm(5), 3);
        var x = Randn64(4, 3, 5);
        AssertInputGradients(xs => ln.Forward(xs[0]), x);
        AssertParameterGradients(ln, () => ln.Forward(x));
    }

    [Fact]
    public void RMSNorm_GradientsMatchFiniteDifferences()
    {
        var rms = Float64(new RMSNorm(5), 5);
        var x = Randn64(6, 3, 5);
        AssertInputGradients(xs => rms.Forward(xs[0]), x);
        AssertParameterGradients(rms, () => rms.Forward(x));
    }

    public static TheoryData<bool, bool, int?, bool> AttentionCases => new()
    {
        { true, false, null, false },   // causal
        { false, true, null, false },   // padding mask
        { true, false, null, true },    // rotary
        { true, true, 1, false },       // grouped-query, with padding
        { true, false, 2, true },       // grouped-query with rotary
    };

    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void MultiHeadAttention_GradientsMatchFiniteDifferences(bool causal, bool padding, int? kvHeads, bool rotary)
    {
        var attn = Float64(new MultiHeadAttention(new AttentionOptions(8, 4, kvHeads, causal, rotary)), 7);
        var x = Randn64(8, 2, 4, 8);
        var mask = padding ? Tensor.FromArray(new bool[,] { { false, false, false, true }, { false, false, true, true } }) : null;
        AssertInputGradients(xs => attn.Forward(xs[0], mask, null), x);
        AssertParameterGradients(attn, () => attn.Forward(x, mask, null));
    }

    [Fact]
    public void TransformerBlock_GradientsMatchFiniteDifferences()
    {
        var block = Float64(new TransformerBlock(new AttentionOptions(8, 2), 16), 9);
        var x = Randn64(10, 2, 3, 8);
        AssertInputGradients(xs => block.Forward(xs[0]), x);
        AssertParameterGradients(block, () => block.Forward(x));
    }

    [Theory]
    [InlineData(false, null)]
    [InlineData(true, 1)]
    public void Gpt_GradientsOfTheLossMatchFiniteDifferences(bool rotary, int? kvHeads)
    {
        var gpt = TinyGpt(layers: 2, rotary: rotary, kvHeads: kvHeads, tied: !rotary);
        Float64(gpt, 11, 0.3);
        var ids = Ids(new long[,] { { 1, 5, 2, 9 }, { 3, 3, 0, 7 } });
        var targets = Ids(new long[,] { { 5, 2, 9, 4 }, { 3, 0, 7, 1 } });
        AssertParameterGradients(gpt, () => Losses.CrossEntropy(gpt.Forward(ids), targets), perTensor: 6);
    }

    [Theory]
    [InlineData(EncoderPooling.Mean)]
    [InlineData(EncoderPooling.FirstToken)]
    public void TransformerEncoderClassifier_GradientsMatchFiniteDifferences(EncoderPooling pooling)
    {
        var model = new TransformerEncoderClassifier(new TransformerEncoderConfig(9, 6, 8, 2, 2, 3, pooling, MlpRatio: 2), new Generator(4));
        Float64(model, 13, 0.3);
        var ids = Ids(new long[,] { { 1, 5, 2, 8 }, { 3, 3, 0, 0 } });
        var mask = Tensor.FromArray(new bool[,] { { false, false, false, false }, { false, false, true, true } });
        AssertParameterGradients(model, () => model.Forward(ids, mask), perTensor: 6);
    }

    [Fact]
    public void CrossEntropy_GradientMatchesFiniteDifferencesWithIgnoreIndexAndLabelSmoothing()
    {
        var logits = Randn64(1, 5, 4);
        var targets = Tensor.FromArray(new long[] { 0, 3, -100, 2, 1 });
        AssertInputGradients(xs => Losses.CrossEntropy(xs[0], targets), logits);
        AssertInputGradients(xs => Losses.CrossEntropy(xs[0], targets, labelSmoothing: 0.2), logits);
    }

    [Fact]
    public void MseAndBinaryCrossEntropy_GradientsMatchFiniteDifferences()
    {
        var a = Randn64(2, 3, 4);
        var b = Randn64(3, 3, 4);
        var y = Tensor.Rand([3, 4], dtype: DType.Float64, generator: new Generator(4));
        AssertInputGradients(xs => Losses.Mse(xs[0], xs[1]), a, b);
        AssertInputGradients(xs => Losses.BinaryCrossEntropyWithLogits(xs[0] * 3, xs[1]), a, y);
    }
}
