using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

public class ModuleTests
{
    sealed class TwoNamesOneTensor : Module
    {
        public TwoNamesOneTensor()
        {
            var shared = Tensor.Ones(3, 4);
            RegisterParameter("a", shared);
            RegisterModule("inner", new Inner(shared));
        }
        public Tensor A => NamedParameters().First().Parameter;
    }

    sealed class Inner : Module
    {
        public Inner(Tensor t)
        {
            RegisterParameter("b", t);
            RegisterParameter("own", Tensor.Zeros(5));
        }
    }

    [Fact]
    public void NamedParameters_AreDottedAndInRegistrationOrder()
    {
        var names = TinyGpt(layers: 2).NamedParameters().Select(p => p.Name).ToList();
        string[] block(int i) =>
        [
            $"blocks.{i}.ln1.weight", $"blocks.{i}.ln1.bias", $"blocks.{i}.attn.qkv.weight", $"blocks.{i}.attn.qkv.bias",
            $"blocks.{i}.attn.proj.weight", $"blocks.{i}.attn.proj.bias", $"blocks.{i}.ln2.weight", $"blocks.{i}.ln2.bias",
            $"blocks.{i}.mlp.fc.weight", $"blocks.{i}.mlp.fc.bias", $"blocks.{i}.mlp.proj.weight", $"blocks.{i}.mlp.proj.bias",
        ];
        string[] expected = ["tok.weight", "pos.weight", .. block(0), .. block(1), "ln_f.weight", "ln_f.bias"];
        Assert.Equal(expected, names);
    }

    [Fact]
    public void ParameterCount_MatchesTheClosedFormOfAGpt()
    {
        int v = 11, t = 16, d = 8, l = 2, hidden = 2 * d;
        long perBlock = 2 * (2 * d) + (d * 3 * d + 3 * d) + (d * d + d) + (d * hidden + hidden) + (hidden * d + d);
        long expected = v * d + t * d + l * perBlock + 2 * d;
        Assert.Equal(expected, TinyGpt(layers: l).ParameterCount());
        Assert.Equal(expected + v * d, TinyGpt(layers: l, tied: false).ParameterCount());
    }

    [Fact]
    public void SharedParameter_IsCountedOnceButNamedTwice()
    {
        var m = new TwoNamesOneTensor();
        Assert.Equal(["a", "inner.b", "inner.own"], m.NamedParameters().Select(p => p.Name));
        Assert.Equal(2, m.Parameters().Count());
        Assert.Equal(12 + 5, m.ParameterCount());
        Assert.Same(m.StateDict()["a"], m.StateDict()["inner.b"]);
    }

    [Fact]
    public void StateDict_RoundTripsIntoAFreshModelWithTheSameOutputs()
    {
        var a = TinyGpt(seed: 1);
        var b = TinyGpt(seed: 2);
        var ids = Ids(new long[,] { { 1, 2, 3, 4 } });
        Assert.NotEqual(a.Forward(ids).ToDoubleArray(), b.Forward(ids).ToDoubleArray());
        b.LoadStateDict(a.StateDict());
        Assert.Equal(a.Forward(ids).ToDoubleArray(), b.Forward(ids).ToDoubleArray());
        foreach (var (name, t) in a.StateDict()) Assert.Equal(t.ToDoubleArray(), b.StateDict()[name].ToDoubleArray());
        Assert.NotSame(a.StateDict()["tok.weight"], b.StateDict()["tok.weight"]);
    }

    static Dictionary<string, double[]> Snapshot(Module m) => m.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());

    static void AssertUnchanged(Dictionary<string, double[]> before, Module m)
    {
        foreach (var (name, values) in Snapshot(m)) Assert.Equal(before[name], values);
    }

    [Fact]
    public void StrictLoad_ReportsMissingAndUnexpectedKeysAndChangesNothing()
    {
        var target = TinyGpt(seed: 1);
        var before = Snapshot(target);
        var state = TinyGpt(seed: 2).StateDict();
        state.Remove("ln_f.bias");
        state["extra.weight"] = Tensor.Zeros(2);
        var e = Assert.Throws<KeyNotFoundException>(() => target.LoadStateDict(state));
        Assert.Contains("missing keys [ln_f.bias]", e.Message);
        Assert.Contains("unexpected keys [extra.weight]", e.Message);
        AssertUnchanged(before, target);
    }

    [Fact]
    public void StrictLoad_ReportsShapeMismatchAndChangesNothing()
    {
        var target = TinyGpt(seed: 1);
        var before = Snapshot(target);
        var state = TinyGpt(seed: 2).StateDict();
        state["ln_f.weight"] = Tensor.Zeros(7);
        var e = Assert.Throws<ArgumentException>(() => target.LoadStateDict(state));
        Assert.Contains("'ln_f.weight'", e.Message);
        Assert.Contains("[7]", e.Message);
        Assert.Contains("[8]", e.Message);
        AssertUnchanged(before, target);
    }

    [Fact]
    public void NonStrictLoad_CopiesTheOverlapAndLeavesTheRest()
    {
        var target = TinyGpt(seed: 1);
        var before = Snapshot(target);
        var source = TinyGpt(seed: 2);
        var state = new Dictionary<string, Tensor> { ["tok.weight"] = source.Tok.Weight, ["nonsense"] = Tensor.Ones(3) };
        target.LoadStateDict(state, strict: false);
        Assert.Equal(source.Tok.Weight.ToDoubleArray(), target.Tok.Weight.ToDoubleArray());
        foreach (var (name, values) in Snapshot(target))
            if (name != "tok.weight") Assert.Equal(before[name], values);
    }

    [Fact]
    public void TrainAndEval_PropagateToEveryDescendant()
    {
        var m = TinyGpt(layers: 2);
        m.Eval();
        Assert.All(m.NamedModules(), x => Assert.False(x.Module.Training));
        m.Train();
        Assert.All(m.NamedModules(), x => Assert.True(x.Module.Training));
        m.Blocks[1].Eval();
        Assert.False(m.Blocks[1].Mlp.Dropout.Training);
        Assert.True(m.Blocks[0].Mlp.Dropout.Training);
    }

    [Fact]
    public void RequiresGradFalse_FreezesASubModuleSoItsParametersGetNoGradient()
    {
        var m = TinyGpt(layers: 2);
        m.Blocks[0].RequiresGrad(false);
        long frozen = m.Blocks[0].ParameterCount();
        Assert.Equal(m.ParameterCount() - frozen, m.ParameterCount(trainableOnly: true));
        var ids = Ids(new long[,] { { 1, 2, 3 } });
        Autograd.Autograd.Backward(Losses.CrossEntropy(m.Forward(ids), Ids(new long[,] { { 2, 3, 4 } })));
        Assert.All(m.Blocks[0].Parameters(), p => Assert.Null(p.Grad));
        Assert.All(m.Blocks[1].Parameters(), p => Assert.NotNull(p.Grad));
        Assert.NotNull(m.Tok.Weight.Grad);
    }

    [Fact]
    public void To_ConvertsEveryParameterKeepsValuesAndKeepsTiedTensorsShared()
    {
        var m = new TwoNamesOneTensor();
        m.To(DType.Float64);
        Assert.All(m.Parameters(), p => Assert.Equal(DType.Float64, p.DType));
        Assert.All(m.Parameters(), p => Assert.True(p.RequiresGrad));
        Assert.Same(m.StateDict()["a"], m.StateDict()["inner.b"]);

        var gpt = TinyGpt();
        var ids = Ids(new long[,] { { 1, 2, 3 } });
        var before = gpt.Forward(ids).ToDoubleArray();
        gpt.To(DType.Float64);
        var after = gpt.Forward(ids);
        Assert.Equal(DType.Float64, after.DType);
        AssertClose(before, after.ToDoubleArray(), 1e-5);
        Assert.Same(gpt.Tok.Weight, gpt.StateDict()["tok.weight"]);
    }
}
