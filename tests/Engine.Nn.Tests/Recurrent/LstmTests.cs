using Engine.Autograd;
using Engine.Nn.Checkpoints;
using Engine.Tests.Shared;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Recurrent;

/// <summary>
/// The LSTM layer: outputs, final states and gradients equal torch.nn.LSTM's on tests/golden/lstm (written by
/// tests/golden/make_lstm_golden.py); its derivative passes GradCheck in Float64; torch's names and shapes.
/// </summary>
public class LstmTests
{
    static readonly Lazy<Dictionary<string, Tensor>> Golden = new(() =>
        Safetensors.Load(Path.Combine(AppContext.BaseDirectory, "golden", "lstm", "lstm.safetensors")));

    // The cases of make_lstm_golden.py: input size, hidden, layers, bias, batch_first, bidirectional, initial states.
    static Lstm Layer(string name) => name switch
    {
        "bi2" => new Lstm(3, 4, numLayers: 2, bias: true, batchFirst: true, bidirectional: true),
        "uni1" => new Lstm(3, 2, numLayers: 1, bias: false, batchFirst: false, bidirectional: false),
        "bi1_unbatched" => new Lstm(2, 3, numLayers: 1, bias: true, batchFirst: true, bidirectional: true),
        _ => throw new ArgumentException(name),
    };

    static Lstm F64(Lstm lstm) { lstm.To(DType.Float64); return lstm; }

    [Theory]
    [InlineData("bi2")]
    [InlineData("uni1")]
    [InlineData("bi1_unbatched")]
    public void OutputsStatesAndGradients_EqualTorchLstm(string name)
    {
        var g = Golden.Value;
        var lstm = F64(Layer(name));
        var names = lstm.NamedParameters().Select(p => p.Name).ToList();
        var torchNames = g.Keys.Where(k => k.StartsWith(name + ".") && (k[(name.Length + 1)..].StartsWith("weight_") || k[(name.Length + 1)..].StartsWith("bias_")))
            .Select(k => k[(name.Length + 1)..]).ToList();
        Assert.Equal(torchNames.Order(), names.Order());
        lstm.LoadStateDict(names.ToDictionary(n => n, n => g[$"{name}.{n}"]));
        var x = g[$"{name}.x"].Clone();
        x.RequiresGrad = true;
        var (y, hn, cn) = lstm.Run(x, g.GetValueOrDefault($"{name}.h0"), g.GetValueOrDefault($"{name}.c0"));
        Approx.AssertClose(g[$"{name}.output"], y, 1e-12, "output");
        Approx.AssertClose(g[$"{name}.h_n"], hn, 1e-12, "h_n");
        Approx.AssertClose(g[$"{name}.c_n"], cn, 1e-12, "c_n");
        var loss = (y * g[$"{name}.vy"]).Sum() + (hn * g[$"{name}.vh"]).Sum() + (cn * g[$"{name}.vc"]).Sum();
        loss.Backward();
        foreach (var (n, p) in lstm.NamedParameters())
            Approx.AssertClose(g[$"{name}.grad.{n}"], p.Grad!, 1e-11, "grad " + n);
        Approx.AssertClose(g[$"{name}.grad.x"], x.Grad!, 1e-11, "grad x");
    }

    [Fact]
    public void ParameterGradients_PassGradCheck()
    {
        var lstm = F64(new Lstm(2, 3, numLayers: 2, batchFirst: true, bidirectional: true, generator: new Generator(3)));
        var x = Randn64(4, 2, 3, 2);
        var v = Randn64(5, 2, 3, 6);
        var h0 = Randn64(6, 4, 2, 3);
        var c0 = Randn64(7, 4, 2, 3);
        AssertParameterGradients(lstm, () =>
        {
            var (y, hn, cn) = lstm.Run(x, h0, c0);
            return (y * v).Sum() + hn.Sum() + (cn * cn).Sum();
        }, perTensor: 8);
    }

    [Fact]
    public void InputAndStateGradients_PassGradCheck()
    {
        var lstm = F64(new Lstm(2, 2, numLayers: 1, bidirectional: true, generator: new Generator(8)));
        AssertInputGradients(t => { var (y, hn, cn) = lstm.Run(t[0], t[1], t[2]); return y.Sum() + (hn * cn).Sum(); },
            Randn64(9, 3, 2, 2), Randn64(10, 2, 2, 2), Randn64(11, 2, 2, 2));
    }

    [Fact]
    public void Dropout_ActsBetweenLayersOnlyWhileTraining()
    {
        var lstm = F64(new Lstm(2, 3, numLayers: 2, dropout: 0.5, generator: new Generator(12)));
        var x = Randn64(13, 4, 1, 2);
        lstm.Eval();
        var a = lstm.Forward(x).ToDoubleArray();
        Assert.Equal(a, lstm.Forward(x).ToDoubleArray());
        lstm.Train();
        Assert.NotEqual(a, lstm.Forward(x).ToDoubleArray());
        // One layer: nothing between layers, so no dropout even while training (torch warns and ignores it).
        var single = F64(new Lstm(2, 3, dropout: 0.5, generator: new Generator(14)));
        var before = single.Forward(x).ToDoubleArray();
        single.Eval();
        Assert.Equal(before, single.Forward(x).ToDoubleArray());
    }

    [Fact]
    public void Shapes_AndNames_FollowTorch()
    {
        var lstm = new Lstm(5, 4, numLayers: 2, bidirectional: true);
        var shapes = lstm.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Shape);
        Assert.Equal([16, 5], shapes["weight_ih_l0"]);
        Assert.Equal([16, 8], shapes["weight_ih_l1_reverse"]);
        Assert.Equal([16, 4], shapes["weight_hh_l1"]);
        Assert.Equal([16], shapes["bias_hh_l0_reverse"]);
        Assert.Equal(16, shapes.Count);
        var (y, hn, cn) = lstm.Run(Tensor.Zeros(7, 3, 5));
        Assert.Equal([7, 3, 8], y.Shape);
        Assert.Equal([4, 3, 4], hn.Shape);
        Assert.Equal([4, 3, 4], cn.Shape);
        Assert.Throws<ArgumentException>(() => lstm.Run(Tensor.Zeros(7, 3, 4)));
        Assert.Throws<ArgumentException>(() => lstm.Run(Tensor.Zeros(7, 3, 5), Tensor.Zeros(2, 3, 4)));
    }
}
