using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Ssm;

/// <summary>The GPT with a token mixer chosen per layer: names, initialisation, training, cached decoding, errors.</summary>
public class HybridGptTests
{
    static GptConfig Config(params string[] mixers) =>
        new(11, 16, 8, mixers.Length, 2, MlpRatio: 2, Mixers: mixers, S4DStateSize: 4);

    [Fact]
    public void AttentionThenS4D_NamesItsParametersPerMixer()
    {
        var names = new Gpt(Config("attention", "s4d"), new Generator(1)).StateDict().Keys.ToHashSet();
        Assert.Contains("blocks.0.attn.qkv.weight", names);
        Assert.Contains("blocks.0.attn.proj.bias", names);
        foreach (var p in new[] { "ssm.log_dt", "ssm.log_A_real", "ssm.A_imag", "ssm.C", "ssm.D", "output.weight", "output.bias" })
            Assert.Contains("blocks.1.s4d." + p, names);
        Assert.Contains("blocks.1.ln1.weight", names);
        Assert.Contains("blocks.1.mlp.fc.weight", names);
        Assert.DoesNotContain(names, n => n.StartsWith("blocks.1.attn.") || n.StartsWith("blocks.0.s4d."));
    }

    [Fact]
    public void ExplicitAllAttention_IsTheDefaultGpt()
    {
        var byDefault = new Gpt(new GptConfig(11, 16, 8, 2, 2, MlpRatio: 2), new Generator(3)).StateDict();
        var explicitly = new Gpt(Config("attention", "attention"), new Generator(3)).StateDict();
        Assert.Equal(byDefault.Keys, explicitly.Keys);
        foreach (var (name, t) in byDefault) Assert.Equal(t.ToDoubleArray(), explicitly[name].ToDoubleArray());
    }

    [Fact]
    public void S4DParameters_KeepTheirOwnInitialisation()
    {
        var gpt = new Gpt(Config("s4d"), new Generator(5));
        var block = gpt.Blocks[0];
        var s4d = Assert.IsType<S4DLayer>(block.Mixer).Ssm;
        Assert.All(s4d.LogAReal.ToDoubleArray(), v => AssertClose(Math.Log(0.5), v, 1e-6));
        // S4D-Lin with N = 4: A_imag = (0, pi) in each of the 8 channels.
        AssertClose(Enumerable.Range(0, 8).SelectMany(_ => new[] { 0.0, Math.PI }).ToArray(), s4d.AImag.ToDoubleArray(), 1e-6, "A_imag");
        Assert.All(s4d.LogDt.Exp().ToDoubleArray(), v => Assert.InRange(v, 0.001, 0.1));
        Assert.Throws<InvalidOperationException>(() => block.Attn);
    }

    [Fact]
    public void AttentionThenS4D_TrainsWithTheSsmParamGroups()
    {
        var ids = Enumerable.Range(0, 17).Select(i => (long)(1 + i % 5)).ToArray();
        var x = Tensor.FromArray(ids[..16], [1, 16]);
        var y = Tensor.FromArray(ids[1..], [1, 16]);
        var gpt = new Gpt(new GptConfig(8, 16, 16, 2, 2, MlpRatio: 2, Mixers: ["attention", "s4d"], S4DStateSize: 8), new Generator(7));
        var logDtBefore = gpt.Blocks[1].Mixer is S4DLayer layer ? layer.Ssm.LogDt.ToDoubleArray() : throw new InvalidOperationException();
        var opt = new AdamW(SsmParamGroups.Build(gpt, lr: 1e-2, weightDecay: 0.01));
        var losses = new List<double>();
        for (int step = 0; step < 25; step++)
        {
            opt.ZeroGrad();
            var loss = Losses.CrossEntropy(gpt.Forward(x), y);
            losses.Add(loss.Item());
            Autograd.Autograd.Backward(loss);
            opt.Step();
        }
        Assert.True(losses[^1] < 0.5 * losses[0], $"loss went from {losses[0]:F3} to {losses[^1]:F3}");
        Assert.NotEqual(logDtBefore, layer.Ssm.LogDt.ToDoubleArray());
    }

    [Fact]
    public void HybridGpt_GradientsOfTheLossMatchFiniteDifferences()
    {
        var gpt = new Gpt(Config("s4d", "attention"), new Generator(9));
        ulong s = 10;
        foreach (var (name, p) in gpt.NamedParameters())
            if (!name.Contains(".ssm.")) Scramble(p, s++, 0.3);
        gpt.To(DType.Float64);
        var ids = Ids(new long[,] { { 1, 5, 2, 9 }, { 3, 3, 0, 7 } });
        var targets = Ids(new long[,] { { 5, 2, 9, 4 }, { 3, 0, 7, 1 } });
        AssertParameterGradients(gpt, () => Losses.CrossEntropy(gpt.Forward(ids), targets), perTensor: 4);
    }

    [Theory]
    [InlineData("attention", "s4d")]
    [InlineData("s4d", "s4d")]
    public void CachedDecoding_EqualsFullRecomputationAtEveryPosition(string first, string second)
    {
        var gpt = new Gpt(Config(first, second), new Generator(21));
        gpt.Eval();
        var ids = Ids(new long[,] { { 1, 4, 2, 8, 0, 3, 7 }, { 5, 5, 9, 1, 2, 6, 10 } });
        var full = gpt.Forward(ids);
        var cache = gpt.CreateCache();
        Assert.IsType<S4DState>(cache[1]);
        var pieces = new List<Tensor> { gpt.Forward(ids.Narrow(1, 0, 3), cache) };
        for (int t = 3; t < 7; t++) pieces.Add(gpt.Forward(ids.Narrow(1, t, 1), cache));
        Assert.Equal(7, cache.Length);
        AssertClose(full, Tensor.Concat(pieces.ToArray(), 1), 1e-5);
    }

    [Fact]
    public void GreedyGeneration_WithAnS4DLayerMatchesUncachedArgmax()
    {
        var gpt = new Gpt(Config("attention", "s4d"), new Generator(23));
        var prompt = Ids(new long[,] { { 1, 4, 2 } });
        var generated = Sampling.Generate(gpt, prompt, 5, new SamplingOptions(Greedy: true));
        var tokens = prompt;
        for (int i = 0; i < 5; i++)
        {
            var next = gpt.Forward(tokens).Select(1, -1).ArgMax(-1).Reshape(1, 1);
            tokens = Tensor.Concat([tokens, next], 1);
        }
        Assert.Equal(tokens.ToArray<long>(), generated.ToArray<long>());
    }

    // A causal mixer without a step mode of its own: the running mean of the positions so far.
    sealed class RunningMean : Module
    {
        public override Tensor Forward(Tensor x) => x.Cumsum(1) / Tensor.Arange(1, x.Size(1) + 1, 1, x.DType).Reshape(1, -1, 1);
    }

    [Fact]
    public void PlainModuleMixer_DecodesIncrementallyByReplay()
    {
        var block = new TransformerBlock("mean", new RunningMean(), 4, 8, generator: new Generator(25));
        var x = Randn(26, 2, 6, 4);
        var state = block.CreateState();
        Assert.IsType<ReplayState>(state);
        var pieces = new[] { block.Forward(x.Narrow(1, 0, 2), null, state), block.Forward(x.Narrow(1, 2, 3), null, state), block.Forward(x.Narrow(1, 5, 1), null, state) };
        AssertClose(block.Forward(x), Tensor.Concat(pieces, 1), 1e-5);
        Assert.Equal(6, state.Length);
        Assert.Equal("mean", block.MixerName);
        Assert.Contains(block.Children(), c => c.Name == "mean" && c.Module is RunningMean);
    }

    [Theory]
    [InlineData("attention", "deltaproduct")]
    [InlineData("deltaproduct", "s4d")]
    public void DeltaProductMixer_CachedDecodingEqualsFullRecomputation(string first, string second)
    {
        var gpt = new Gpt(Config(first, second), new Generator(27));
        gpt.Eval();
        Assert.Contains(gpt.NamedParameters(), p => p.Name.StartsWith(first == "deltaproduct" ? "blocks.0.delta." : "blocks.1.delta."));
        var ids = Ids(new long[,] { { 1, 4, 2, 8, 0, 3, 7 }, { 5, 5, 9, 1, 2, 6, 10 } });
        var full = gpt.Forward(ids);
        var cache = gpt.CreateCache();
        var pieces = new List<Tensor> { gpt.Forward(ids.Narrow(1, 0, 3), cache) };
        for (int t = 3; t < 7; t++) pieces.Add(gpt.Forward(ids.Narrow(1, t, 1), cache));
        Assert.Equal(7, cache.Length);
        AssertClose(full, Tensor.Concat(pieces.ToArray(), 1), 1e-4);
    }

    [Fact]
    public void MixerSpecs_AreValidated()
    {
        Assert.Contains("unknown token mixer 'mamba'", Assert.Throws<ArgumentException>(() => new Gpt(Config("attention", "mamba"))).Message);
        Assert.Contains("3 mixers for 2 layers",
            Assert.Throws<ArgumentException>(() => new Gpt(new GptConfig(11, 16, 8, 2, 2, Mixers: ["s4d", "s4d", "s4d"]))).Message);
    }

    [Fact]
    public void Gpt2CheckpointSave_RejectsAHybridWithAClearMessage()
    {
        var gpt = new Gpt(Config("attention", "s4d"));
        var folder = Path.Combine(Path.GetTempPath(), "s4d-hybrid-" + Guid.NewGuid().ToString("N"));
        var e = Assert.Throws<ArgumentException>(() => Gpt2Checkpoint.Save(gpt, folder));
        Assert.Contains("[attention, s4d]", e.Message);
        Assert.False(Directory.Exists(folder));
    }

    [Fact]
    public void HybridConfig_RoundTripsThroughJsonAndRebuildsTheSameModel()
    {
        // The CLI stores the GptConfig as JSON next to the state dict (NamesModelFile); a hybrid must survive that.
        var config = Config("s4d", "attention") with { S4DInit = S4DInit.Inv, S4DStateSize = 6 };
        var original = new Gpt(config, new Generator(31));
        var json = System.Text.Json.JsonSerializer.Serialize(config);
        var restored = System.Text.Json.JsonSerializer.Deserialize<GptConfig>(json)!;
        Assert.Equal(config.Mixers, restored.Mixers);
        Assert.Equal((S4DInit.Inv, 6), (restored.S4DInit, restored.S4DStateSize));
        var rebuilt = new Gpt(restored, new Generator(32));
        rebuilt.LoadStateDict(original.StateDict());
        var ids = Ids(new long[,] { { 1, 4, 2, 8 } });
        AssertClose(original.Forward(ids), rebuilt.Forward(ids), 1e-6);
    }
}
