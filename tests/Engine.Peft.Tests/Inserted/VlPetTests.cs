using Engine.Peft.Inserted;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Inserted;

/// <summary>
/// VL-PET (spec adapters-other.md §11): each gate against a naive restatement of the reference's BartEncoderLayer
/// (head by head, row by row, in doubles), the oracle "middleY with g = 0 is the plain multi-head adapter", gradients
/// through x1 (the sublayer input the gates read through <see cref="SublayerInput"/>), and BERT's post-LN layers.
/// </summary>
public class VlPetTests
{
    const int D = 8, A = 6, H = 3, G = 5, B = 2, T = 3;

    static VlPetLayer Layer(string gate) => StandaloneLayer(l => new VlPetLayer(l), 4, D,
        new VlPetConfig { AdapterDownDim = A, EncoderAdapterMultiheadNumHead = H, AdapterGatingDownDim = G, GateType = gate, InitStd = 0.4, Seed = 2 });

    static double GeluNew(double v) => 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));

    static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

    // out[j] = b[j] + Σ_i w[j, i] x[i] for one row x of width inF.
    static double[] Lin(double[] w, double[] b, double[] x, int inF)
    {
        var o = new double[b.Length];
        for (int j = 0; j < o.Length; j++)
        {
            o[j] = b[j];
            for (int i = 0; i < inF; i++) o[j] += w[j * inF + i] * x[i];
        }
        return o;
    }

    static double[] Row(double[] t, int n, int width) => t.Skip(n * width).Take(width).ToArray();

    double[] Naive(VlPetLayer layer, string gate, Tensor input, Tensor x1, bool zeroGate = false)
    {
        var x2 = layer.BaseLayer.Forward(input).ToDoubleArray();
        var x1s = x1.ToDoubleArray();
        var down = layer.Down("a").Weight.ToDoubleArray();   // [H, A/H, D]
        var downB = layer.Down("a").Bias.ToDoubleArray();
        var up = layer.Up("a");
        var (wu, bu) = (up.Weight.ToDoubleArray(), up.Bias!.ToDoubleArray());
        double[] P(string container, string member) => layer.NamedParameters().First(p => p.Name == $"{container}.a.{member}").Parameter.ToDoubleArray();
        var y1 = new double[B * T * D];
        for (int n = 0; n < B * T; n++)
        {
            var row = Row(x2, n, D);
            // The reference: H heads of A/H rows each on x2, concatenated, gelu_new, one up-projection.
            var cat = new List<double>();
            for (int h = 0; h < H; h++)
                cat.AddRange(Lin(down.Skip(h * (A / H) * D).Take(A / H * D).ToArray(), downB.Skip(h * (A / H)).Take(A / H).ToArray(), row, D));
            var delta = Lin(wu, bu, cat.Select(GeluNew).ToArray(), A);
            for (int i = 0; i < D; i++) y1[n * D + i] = row[i] + delta[i];
        }
        var y = new double[y1.Length];
        switch (gate)
        {
            case "large":
                for (int n = 0; n < B * T; n++)
                {
                    var g = Lin(P("adapter_gating_large_x_down", "weight"), P("adapter_gating_large_x_down", "bias"), Row(x1s, n, D), D).Select(GeluNew).ToArray();
                    var gate2 = Lin(P("adapter_gating_large_x_up", "weight"), P("adapter_gating_large_x_up", "bias"), g, G);
                    for (int i = 0; i < D; i++) y[n * D + i] = y1[n * D + i] * Sigmoid(gate2[i]);
                }
                break;
            case "middleX":
                for (int n = 0; n < B * T; n++)
                {
                    var sum = Row(x1s, n, D).Zip(Row(y1, n, D), (p, q) => p + q).ToArray();
                    double s = Sigmoid(Lin(P("adapter_gating_middle_xy_add", "weight"), P("adapter_gating_middle_xy_add", "bias"), sum, D)[0]);
                    for (int i = 0; i < D; i++) y[n * D + i] = y1[n * D + i] * s;
                }
                break;
            case "middleY":
                var gv = zeroGate ? new double[D] : layer.NamedParameters().First(p => p.Name == "adapter_gating_middle_ia3_add.a").Parameter.ToDoubleArray();
                for (int n = 0; n < B * T; n++)
                    for (int i = 0; i < D; i++) y[n * D + i] = y1[n * D + i] + y1[n * D + i] * gv[i];
                break;
            default:
                for (int b = 0; b < B; b++)
                {
                    double mean = 0;
                    for (int t = 0; t < T; t++)
                    {
                        int n = b * T + t;
                        mean += Sigmoid(Lin(P("adapter_gating_small_xy_cat", "weight"), P("adapter_gating_small_xy_cat", "bias"), [.. Row(x1s, n, D), .. Row(y1, n, D)], 2 * D)[0]) / T;
                    }
                    for (int t = 0; t < T; t++)
                        for (int i = 0; i < D; i++) y[(b * T + t) * D + i] = y1[(b * T + t) * D + i] * mean;
                }
                break;
        }
        return y;
    }

    [Theory]
    [InlineData("large")]
    [InlineData("middleX")]
    [InlineData("middleY")]
    [InlineData("small")]
    public void EachGate_MatchesANaiveRestatement_AndItsGradientsIncludingThroughX1(string gate)
    {
        var layer = Layer(gate);
        var input = Randn64(5, B, T, 4);
        var x1 = Randn64(6, B, T, D);
        var actual = SublayerInput.Run(x1, () => layer.Forward(input));
        AssertClose(Naive(layer, gate, input, x1), actual.ToDoubleArray(), 1e-12, gate);
        AssertParameterGradients(layer, () => SublayerInput.Run(x1, () => layer.Forward(input)));
        AssertInputGradients(xs => SublayerInput.Run(xs[1], () => layer.Forward(xs[0])), input, x1);
        Assert.NotNull(layer.MergeRefusal("a"));
    }

    [Fact]
    public void MiddleYWithGZero_IsThePlainMultiHeadAdapter()
    {
        var layer = Layer("middleY");
        using (Autograd.Autograd.NoGrad())
            layer.NamedParameters().First(p => p.Name == "adapter_gating_middle_ia3_add.a").Parameter.CopyFrom(Tensor.Zeros([D], DType.Float64));
        var input = Randn64(5, B, T, 4);
        // The plain multi-head adapter y1 = x2 + W_up gelu_new(concat_h W_down^h x2): the naive middleY with a zero gate.
        AssertClose(Naive(layer, "middleY", input, Randn64(6, B, T, D), zeroGate: true), layer.Forward(input).ToDoubleArray(), 1e-12, "middleY, g = 0");
    }

    [Fact]
    public void TheGatesThatReadX1_RefuseAModelThatPublishesNone_MiddleYNeedsNone()
    {
        var input = Randn64(5, B, T, 4);
        var e = Assert.Throws<InvalidOperationException>(() => Layer("large").Forward(input));
        Assert.Contains("x1", e.Message);
        Layer("middleY").Forward(input);
    }

    [Fact]
    public void OnBert_TheZooPresetGatesBothSublayerOutputsOfEveryLayer_AndTheGateIsTrained()
    {
        var bert = (Bert)new Bert(new BertConfig(20, 16, 2, 2, 32, 16, Dropout: 0, AttentionDropout: 0), new Generator(1)).Eval();
        var ids = Tensor.FromArray(new long[,] { { 1, 5, 2, 9 }, { 4, 4, 0, 12 } });
        var expected = bert.Forward(ids).ToDoubleArray();
        var peft = Peft.Apply(bert, VlPetConfig.Preset(AdapterPreset.ForBert(2, 10, 1)));
        Assert.Equal(4, peft.AdapterLayers().Count());
        var y = peft.Model.Forward(ids);
        Assert.NotEqual(expected, y.ToDoubleArray());   // the large gate scales the sublayer output at init (pitfall 6)
        y.Square().Sum().Backward();
        var gates = peft.Model.NamedParameters().Where(p => p.Name.Contains("adapter_gating_large_x_down")).ToList();
        Assert.Equal(2 * 4, gates.Count);
        Assert.All(gates, p => Assert.True(p.Parameter.Grad!.Abs().Max().Item() > 0, $"{p.Name} has no gradient"));
    }
}
