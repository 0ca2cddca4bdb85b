using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

public class LayerTests
{
    [Fact]
    public void Linear_OnBatchTimeChannelInput_EqualsNaiveLoops()
    {
        var lin = new Linear(5, 3, generator: new Generator(1));
        var x = Randn(2, 2, 4, 5);
        var y = lin.Forward(x);
        Assert.Equal([2, 4, 3], y.Shape);
        var expected = NaiveLinear(x.ToDoubleArray(), 8, lin.Weight.ToDoubleArray(), lin.Bias!.ToDoubleArray(), 5, 3);
        AssertClose(expected, y.ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void Linear_WithoutBias_HasOnlyAWeightAndEqualsNaiveLoops()
    {
        var lin = new Linear(4, 6, bias: false, generator: new Generator(2));
        Assert.Null(lin.Bias);
        Assert.Equal(["weight"], lin.NamedParameters().Select(p => p.Name));
        var x = Randn(3, 7, 4);
        AssertClose(NaiveLinear(x.ToDoubleArray(), 7, lin.Weight.ToDoubleArray(), null, 4, 6), lin.Forward(x).ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void Linear_RejectsAWrongFeatureCountNamingTheShape()
    {
        var e = Assert.Throws<ArgumentException>(() => new Linear(4, 2).Forward(Tensor.Zeros(3, 5)));
        Assert.Contains("[3,5]", e.Message);
    }

    [Fact]
    public void Embedding_LooksUpRowsForIdsOfAnyShape()
    {
        var emb = new Embedding(6, 3, new Generator(3));
        var table = emb.Weight.ToDoubleArray();
        var ids = Ids(new long[,] { { 5, 0, 2 }, { 2, 2, 1 } });
        var y = emb.Forward(ids);
        Assert.Equal([2, 3, 3], y.Shape);
        var flat = ids.ToArray<long>();
        var expected = flat.SelectMany(id => table.Skip((int)id * 3).Take(3)).ToArray();
        Assert.Equal(expected, y.ToDoubleArray());
    }

    [Fact]
    public void LayerNorm_EqualsTheNaivePerRowFormula()
    {
        var ln = new LayerNorm(6, eps: 1e-5);
        Scramble(ln.Weight, 4);
        Scramble(ln.Bias, 5);
        var x = Randn(6, 2, 3, 6) * 3 + 1;
        var xs = x.ToDoubleArray();
        var w = ln.Weight.ToDoubleArray();
        var b = ln.Bias.ToDoubleArray();
        var expected = new double[xs.Length];
        for (int r = 0; r < 6; r++)
        {
            var row = xs.AsSpan(r * 6, 6).ToArray();
            double mean = row.Average(), variance = row.Select(v => (v - mean) * (v - mean)).Average();
            for (int i = 0; i < 6; i++) expected[r * 6 + i] = (row[i] - mean) / Math.Sqrt(variance + 1e-5) * w[i] + b[i];
        }
        AssertClose(expected, ln.Forward(x).ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void RMSNorm_EqualsTheNaivePerRowFormula()
    {
        var rms = new RMSNorm(5, eps: 1e-6);
        Scramble(rms.Weight, 7);
        var x = Randn(8, 4, 5) * 2;
        var xs = x.ToDoubleArray();
        var w = rms.Weight.ToDoubleArray();
        var expected = new double[xs.Length];
        for (int r = 0; r < 4; r++)
        {
            double ms = Enumerable.Range(0, 5).Average(i => xs[r * 5 + i] * xs[r * 5 + i]);
            for (int i = 0; i < 5; i++) expected[r * 5 + i] = xs[r * 5 + i] / Math.Sqrt(ms + 1e-6) * w[i];
        }
        AssertClose(expected, rms.Forward(x).ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void Dropout_InEvalMode_IsTheIdentity()
    {
        var d = new Dropout(0.5, new Generator(1));
        d.Eval();
        var x = Randn(9, 10, 10);
        Assert.Equal(x.ToDoubleArray(), d.Forward(x).ToDoubleArray());
    }

    [Fact]
    public void Dropout_InTraining_ZeroesAboutPAndScalesSurvivorsByOneOverOneMinusP()
    {
        const double p = 0.3;
        const int n = 40000;
        var d = new Dropout(p, new Generator(11));
        var x = Tensor.Rand([n], 1, 2, generator: new Generator(12)); // never zero
        var y = d.Forward(x).ToDoubleArray();
        var xs = x.ToDoubleArray();
        int zeros = y.Count(v => v == 0);
        // Binomial(n, p): standard deviation sqrt(n p (1-p)) ~ 92; allow 5 of them.
        Assert.InRange(zeros, n * p - 5 * Math.Sqrt(n * p * (1 - p)), n * p + 5 * Math.Sqrt(n * p * (1 - p)));
        for (int i = 0; i < n; i++)
            if (y[i] != 0) AssertClose(xs[i] / (1 - p), y[i], 1e-6);
    }

    [Fact]
    public void Dropout_WithTheSameSeed_GivesTheSameMask()
    {
        var x = Tensor.Ones(1000);
        var a = new Dropout(0.5, new Generator(5)).Forward(x).ToDoubleArray();
        var b = new Dropout(0.5, new Generator(5)).Forward(x).ToDoubleArray();
        var c = new Dropout(0.5, new Generator(6)).Forward(x).ToDoubleArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void ActivationModules_EqualTheirClosedForms()
    {
        var x = Tensor.Linspace(-3, 3, 61, DType.Float64);
        var xs = x.ToDoubleArray();
        AssertClose(xs.Select(v => 0.5 * v * (1 + Erf(v / Math.Sqrt(2)))).ToArray(), new GELU().Forward(x).ToDoubleArray(), 1e-9, "gelu");
        AssertClose(xs.Select(v => 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)))).ToArray(),
            new GELU(tanhApproximation: true).Forward(x).ToDoubleArray(), 1e-9, "gelu_tanh");
        AssertClose(xs.Select(v => v / (1 + Math.Exp(-v))).ToArray(), new SiLU().Forward(x).ToDoubleArray(), 1e-9, "silu");
        AssertClose(xs.Select(v => Math.Max(v, 0)).ToArray(), new ReLU().Forward(x).ToDoubleArray(), 0, "relu");
        AssertClose(xs.Select(Math.Tanh).ToArray(), new Tanh().Forward(x).ToDoubleArray(), 1e-12, "tanh");
    }

    [Fact]
    public void Sequential_AppliesLayersInOrderAndNamesThemByIndex()
    {
        var l1 = new Linear(3, 4, generator: new Generator(1));
        var l2 = new Linear(4, 2, generator: new Generator(2));
        var seq = new Sequential(l1, new ReLU(), l2);
        Assert.Equal(3, seq.Count);
        Assert.Same(l2, seq[2]);
        Assert.Equal(["0.weight", "0.bias", "2.weight", "2.bias"], seq.NamedParameters().Select(p => p.Name));
        var x = Randn(3, 5, 3);
        Assert.Equal(l2.Forward(l1.Forward(x).Relu()).ToDoubleArray(), seq.Forward(x).ToDoubleArray());
    }

    [Fact]
    public void ModuleList_IndexesItemsAndNamesThemByIndex()
    {
        var list = new ModuleList<Linear>([new Linear(2, 2), new Linear(2, 3)]);
        list.Add(new Linear(3, 1, bias: false));
        Assert.Equal(3, list.Count);
        Assert.Equal(3, list[2].InFeatures);
        Assert.Equal(["0.weight", "0.bias", "1.weight", "1.bias", "2.weight"], list.NamedParameters().Select(p => p.Name));
        Assert.Equal(3, list.Items.Count());
    }

    [Fact]
    public void ModuleDict_LooksUpByNameAndReportsUnknownNames()
    {
        var dict = new ModuleDict<Module>();
        var enc = new Linear(2, 2);
        dict.Add("enc", enc);
        dict.Add("act", new ReLU());
        Assert.Same(enc, dict["enc"]);
        Assert.Equal(["enc", "act"], dict.Keys);
        Assert.Equal(["enc.weight", "enc.bias"], dict.NamedParameters().Select(p => p.Name));
        var e = Assert.Throws<KeyNotFoundException>(() => dict["dec"]);
        Assert.Contains("'dec'", e.Message);
        Assert.Throws<ArgumentException>(() => dict.Add("enc", new ReLU()));
    }
}
