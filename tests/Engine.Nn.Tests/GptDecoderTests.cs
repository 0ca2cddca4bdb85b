using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

/// <summary>
/// The dedicated batch-1 decoder behind Sampling.Generate: every step's logits against the general path's full forward
/// over the whole prefix (no cache), its tokens against the general cached loop, and the fall-backs.
/// </summary>
public class GptDecoderTests
{
    // A small GPT with every parameter random (LayerNorm gains and biases included).
    static Gpt RandomGpt(string variant, ulong seed)
    {
        var config = new GptConfig(VocabSize: 13, ContextLength: 12, DModel: 16, Layers: 2, Heads: 4, MlpRatio: 2) switch
        {
            var c when variant == "rotary" => c with { Rotary = true },
            var c when variant == "grouped" => c with { KvHeads = 2 },
            var c when variant == "parallel" => c with { ParallelBlocks = true },
            var c when variant == "untied" => c with { TiedHead = false },
            // Heads of 32 features and 24 positions: the attention's vector loops, not only their scalar tails.
            var c when variant == "wide" => c with { DModel = 64, Heads = 2, ContextLength = 24 },
            var c => c,
        };
        var gpt = new Gpt(config, new Generator(seed));
        ScrambleAll(gpt, seed + 100, 0.5);
        gpt.Eval();
        return gpt;
    }

    static long[] RandomTokens(int n, int vocab, ulong seed) => Tensor.Randint(0, vocab, [n], generator: new Generator(seed)).ToArray<long>();

    public static TheoryData<string> Variants => new() { "plain", "rotary", "grouped", "parallel", "untied", "wide" };

    [Theory]
    [MemberData(nameof(Variants))]
    public void StepLogits_EqualTheFullForwardOfThePrefix_UpToTheContextLength(string variant)
    {
        var gpt = RandomGpt(variant, 5);
        int context = gpt.Config.ContextLength, vocab = gpt.Config.VocabSize;
        var tokens = RandomTokens(context, vocab, 6);
        using var _ = Autograd.Autograd.NoGrad();
        var decoder = GptDecoder.TryCreate(gpt, context);
        Assert.NotNull(decoder);
        for (int t = 0; t < context; t++)
        {
            var actual = decoder.Step(tokens[t]).ToArray();
            // The oracle: the general path's forward over all t + 1 tokens at once, last position.
            var expected = gpt.Forward(Tensor.FromArray(tokens[..(t + 1)], [1, t + 1])).Select(1, -1).ToArray<float>();
            double scale = expected.Max(v => Math.Abs(v));
            for (int j = 0; j < vocab; j++) Assert.True(Math.Abs(actual[j] - expected[j]) <= 1e-5 * scale, $"step {t}, logit {j}: {actual[j]} vs {expected[j]}");
            Assert.Equal(t + 1, decoder.Length);
        }
        Assert.Throws<InvalidOperationException>(() => decoder.Step(0));
    }

    // The general path: the generic overload runs Forward with a KvCache, one tensor op at a time.
    static long[] GeneralPath(Gpt gpt, long[] prompt, int maxNewTokens, SamplingOptions options, Generator? generator = null, int? stop = null) =>
        Sampling.Generate(gpt, gpt.Config.Rotary ? int.MaxValue : gpt.Config.ContextLength, Tensor.FromArray(prompt, [1, prompt.Length]), maxNewTokens, options, generator, stop).ToArray<long>();

    static long[] Generate(Gpt gpt, long[] prompt, int maxNewTokens, SamplingOptions options, Generator? generator = null, int? stop = null) =>
        Sampling.Generate(gpt, Tensor.FromArray(prompt, [1, prompt.Length]), maxNewTokens, options, generator, stop).ToArray<long>();

    [Theory]
    [MemberData(nameof(Variants))]
    public void GreedyGeneration_GivesTheGeneralPathsTokens_AndStopsAtTheContextLength(string variant)
    {
        var gpt = RandomGpt(variant, 7);
        long[] prompt = [3, 1, 4];
        // 20 new tokens do not fit a context of 12: both stop where the cache is full (rotary has no limit).
        var expected = GeneralPath(gpt, prompt, 20, new SamplingOptions(Greedy: true));
        Assert.Equal(variant == "rotary" ? 23 : Math.Min(23, gpt.Config.ContextLength + 1), expected.Length);
        Assert.Equal(expected, Generate(gpt, prompt, 20, new SamplingOptions(Greedy: true)));
    }

    [Theory]
    [InlineData(1.0, 0, 1.0)]
    [InlineData(0.7, 4, 1.0)]
    [InlineData(1.3, 0, 0.8)]
    public void SampledGeneration_DrawsTheGeneralPathsTokensFromTheSameGenerator(double temperature, int topK, double topP)
    {
        var gpt = RandomGpt("plain", 9);
        var options = new SamplingOptions(temperature, topK, topP);
        long[] prompt = [2];
        var expected = GeneralPath(gpt, prompt, 10, options, new Generator(11));
        var generator = new Generator(11);
        Assert.Equal(expected, Generate(gpt, prompt, 10, options, generator));
        // Both consumed the generator alike: the next draw is the same.
        var after = new Generator(11);
        GeneralPath(gpt, prompt, 10, options, after);
        Assert.Equal(Tensor.Rand([1], generator: after).ToArray<float>(), Tensor.Rand([1], generator: generator).ToArray<float>());
    }

    [Fact]
    public void StopToken_EndsGenerationAsOnTheGeneralPath()
    {
        var gpt = RandomGpt("plain", 13);
        long[] prompt = [5, 6];
        var free = GeneralPath(gpt, prompt, 8, new SamplingOptions(Greedy: true));
        long stop = free[4];
        Assert.Equal(GeneralPath(gpt, prompt, 8, new SamplingOptions(Greedy: true), stop: (int)stop), Generate(gpt, prompt, 8, new SamplingOptions(Greedy: true), stop: (int)stop));
    }

    [Fact]
    public void ZeroNewTokens_ReturnsThePrompt()
    {
        var gpt = RandomGpt("plain", 15);
        Assert.Equal([4L, 2L, 9L], Generate(gpt, [4, 2, 9], 0, new SamplingOptions(Greedy: true)));
    }

    [Fact]
    public void AWrappedLayer_FallsBackToTheGeneralPath_AndItsAnswer()
    {
        var gpt = RandomGpt("plain", 17);
        var attention = gpt.Blocks[1].Attn;
        attention.ReplaceModule("proj", new ShiftingWrapper(attention.Proj, 0.5));
        Assert.Null(GptDecoder.TryCreate(gpt, 4));
        // The shown tied head is a plain Linear, which the decoder covers, until an adapter wraps it.
        gpt = RandomGpt("plain", 17);
        gpt.ShowTiedHead();
        Assert.NotNull(GptDecoder.TryCreate(gpt, 4));
        gpt.ReplaceModule("head", new ShiftingWrapper(gpt.Children().Single(c => c.Name == "head").Module, 0.5));
        Assert.Null(GptDecoder.TryCreate(gpt, 4));
        long[] prompt = [1, 2];
        var expected = GeneralPath(gpt, prompt, 6, new SamplingOptions(Greedy: true));
        Assert.Equal(expected, Generate(gpt, prompt, 6, new SamplingOptions(Greedy: true)));
        // The wrapper changes the answer, so the fall-back is what kept it right.
        var plain = RandomGpt("plain", 17);
        Assert.NotEqual(GeneralPath(plain, prompt, 6, new SamplingOptions(Greedy: true)), expected);
    }

    [Fact]
    public void UnsupportedConfigs_AreRefused()
    {
        var baseConfig = new GptConfig(VocabSize: 13, ContextLength: 12, DModel: 16, Layers: 2, Heads: 4, MlpRatio: 2);
        Assert.Null(GptDecoder.TryCreate(new Gpt(baseConfig with { GeluTanh = false }), 4));
        Assert.Null(GptDecoder.TryCreate(new Gpt(baseConfig with { Mixers = ["attention", "s4d"] }), 4));
        Assert.Null(GptDecoder.TryCreate(new Gpt(baseConfig with { Moe = new MoeOptions(Experts: 2) }), 4));
        var exact = new Gpt(baseConfig with { GeluTanh = false }, new Generator(19));
        exact.Eval();
        long[] prompt = [3, 3];
        Assert.Equal(GeneralPath(exact, prompt, 5, new SamplingOptions(Greedy: true)), Generate(exact, prompt, 5, new SamplingOptions(Greedy: true)));
    }

    [Fact]
    public void Step_AllocatesNothing()
    {
        var gpt = RandomGpt("plain", 21);
        var decoder = GptDecoder.TryCreate(gpt, 12)!;
        decoder.Step(1);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int t = 1; t < 12; t++) decoder.Step(t);
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    // An adapter stand-in: the wrapped output plus a ramp along the features.
    sealed class ShiftingWrapper(Module wrapped, double step) : Module, IModuleWrapper
    {
        public Module Wrapped { get; } = wrapped;

        public override Tensor Forward(Tensor input)
        {
            var y = Wrapped.Forward(input);
            return y + (Tensor.Arange(y.Size(-1)).To(y.DType) + 1) * step;
        }
    }
}
