using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

/// <summary>
/// Parents call their children through the registry: a layer swapped in by ReplaceModule (an adapter's wrapper) always
/// runs, while the typed accessors still reach the original layers.
/// </summary>
public class ModuleWrappingTests
{
    /// <summary>
    /// Stands in for an adapter layer: counts its calls and adds <see cref="Offset"/> times 1, 2, 3, ... along the last
    /// dimension to the wrapped output (a ramp, since a constant shift would vanish in the next LayerNorm).
    /// </summary>
    sealed class CountingWrapper(Module wrapped) : Module, IModuleWrapper
    {
        public Module Wrapped { get; } = wrapped;
        public int Calls { get; private set; }
        public double Offset { get; set; }

        public override Tensor Forward(Tensor input)
        {
            Calls++;
            var y = Wrapped.Forward(input);
            return Offset == 0 ? y : y + (Tensor.Arange(y.Size(-1)).To(y.DType) + 1) * Offset;
        }
    }

    public static TheoryData<string> GptVariants => new() { "attention", "attention-untied", "s4d", "deltanet", "deltaproduct" };

    static Gpt MakeGpt(string variant)
    {
        var config = new GptConfig(VocabSize: 11, ContextLength: 8, DModel: 16, Layers: 2, Heads: 2, MlpRatio: 2, S4DStateSize: 4);
        config = variant switch
        {
            "attention" => config,
            "attention-untied" => config with { TiedHead = false },
            "s4d" => config with { Mixers = ["s4d", "s4d"] },
            "deltanet" => config with { Mixers = ["deltaproduct", "deltaproduct"], DeltaHouseholder = 1 },
            "deltaproduct" => config with { Mixers = ["deltaproduct", "attention"], DeltaHouseholder = 2, DeltaForgetGate = true },
            _ => throw new ArgumentException(variant),
        };
        var gpt = new Gpt(config, new Generator(3));
        gpt.Eval();
        return gpt;
    }

    // Replaces every Linear, Embedding, LayerNorm and RMSNorm through its parent's ReplaceModule.
    static Dictionary<string, CountingWrapper> WrapEveryLayer(Module model)
    {
        var modules = model.NamedModules().ToDictionary(m => m.Name, m => m.Module);
        var wrappers = new Dictionary<string, CountingWrapper>();
        foreach (var (name, module) in modules)
        {
            if (module is not (Linear or Embedding or LayerNorm or RMSNorm)) continue;
            int dot = name.LastIndexOf('.');
            var parent = dot < 0 ? model : modules[name[..dot]];
            var wrapper = new CountingWrapper(module);
            parent.ReplaceModule(name[(dot + 1)..], wrapper);
            wrappers[name] = wrapper;
        }
        return wrappers;
    }

    // Every wrapper runs once per forward, and an offset in any one of them changes the model's output.
    static void AssertEveryWrapperReachesTheOutput(Dictionary<string, CountingWrapper> wrappers, Func<Tensor> forward)
    {
        var baseline = forward();
        foreach (var (name, w) in wrappers) Assert.True(w.Calls == 1, $"{name} was called {w.Calls} times, expected once");
        foreach (var (name, w) in wrappers)
        {
            w.Offset = 1;
            var changed = forward();
            w.Offset = 0;
            double diff = baseline.ToDoubleArray().Zip(changed.ToDoubleArray(), (a, b) => Math.Abs(a - b)).Max();
            Assert.True(diff > 1e-6, $"an offset in the wrapper of {name} did not reach the output (largest change {diff})");
        }
    }

    [Theory]
    [MemberData(nameof(GptVariants))]
    public void Gpt_CallsEveryReplacedLayer(string variant)
    {
        var gpt = MakeGpt(variant);
        var ids = Ids(new long[,] { { 1, 2, 3, 4 }, { 5, 6, 7, 8 } });
        var wrappers = WrapEveryLayer(gpt);
        Assert.Contains("tok", wrappers.Keys);
        Assert.Contains("ln_f", wrappers.Keys);
        if (variant == "s4d") Assert.Contains("blocks.0.s4d.output", wrappers.Keys);
        if (variant.StartsWith("delta")) Assert.Contains("blocks.0.delta.q_proj", wrappers.Keys);
        AssertEveryWrapperReachesTheOutput(wrappers, () => gpt.Forward(ids));
    }

    [Fact]
    public void TransformerEncoderClassifier_CallsEveryReplacedLayer()
    {
        var model = new TransformerEncoderClassifier(new TransformerEncoderConfig(12, 8, 16, 2, 4, 3, EncoderPooling.Mean, MlpRatio: 2), new Generator(1));
        model.Eval();
        var ids = Ids(new long[,] { { 1, 2, 3 }, { 4, 5, 6 } });
        var wrappers = WrapEveryLayer(model);
        Assert.Contains("head", wrappers.Keys);
        AssertEveryWrapperReachesTheOutput(wrappers, () => model.Forward(ids));
    }

    [Theory]
    [MemberData(nameof(GptVariants))]
    public void TypedAccessors_LookThroughWrappersToTheOriginalLayers(string variant)
    {
        var gpt = MakeGpt(variant);
        var tok = gpt.Tok;
        var ln1 = gpt.Blocks[0].Ln1;
        WrapEveryLayer(gpt);
        Assert.Same(tok, gpt.Tok);
        Assert.Same(ln1, gpt.Blocks[0].Ln1);
        if (variant.StartsWith("delta")) Assert.IsType<Linear>(((DeltaProduct)gpt.Blocks[0].Mixer).QProj);
        if (variant == "s4d") Assert.IsType<Linear>(((S4DLayer)gpt.Blocks[0].Mixer).Output);
        if (variant.StartsWith("attention")) Assert.IsType<Linear>(gpt.Blocks[0].Attn.Qkv);
    }

    [Fact]
    public void S4DBlock_CallsItsReplacedNorm()
    {
        var block = new S4DBlock(8, stateSize: 4, generator: new Generator(2));
        var wrapper = new CountingWrapper(block.Norm) { Offset = 0.5 };
        var x = Randn(4, 2, 5, 8);
        var before = block.Forward(x);
        block.ReplaceModule("norm", wrapper);
        var after = block.Forward(x);
        Assert.Equal(1, wrapper.Calls);
        Assert.NotEqual(before.ToDoubleArray(), after.ToDoubleArray());
    }
}
