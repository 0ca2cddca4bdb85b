using Engine.Peft.Subspace;
using Xunit;
using static Engine.Peft.Tests.Subspace.SubspaceTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Subspace;

/// <summary>
/// PEANuT: ΔW is a small network applied to the frozen weight (the depth-0 oracle of the spec, the encoder/decoder
/// chain with its residuals in reverse order), which makes ΔW follow the weight; merging reads the unmerged weight.
/// </summary>
public class PeanutTests
{
    const int InF = 6, OutF = 5;

    static PeanutLayer Peanut(PeanutConfig config) => Layer(l => new PeanutLayer(l), InF, OutF, config);

    static double[] Weight(PeanutLayer layer, string member) =>
        layer.AdapterTensors("a").Single(t => t.Key == member).Tensor.ToDoubleArray();

    [Fact]
    public void DepthZero_DeltaTransposeIsScaledReluOfWTransposeATransposeTimesBTranspose()
    {
        const int r = 3;
        var layer = Peanut(new PeanutConfig { R = r, Scaling = 0.7, InitWeights = false });
        var a = Weight(layer, "peanut_A.weight"); // [r, out]
        var b = Weight(layer, "peanut_B.weight"); // [out, r]
        var wt = Transpose(layer.BaseLayer.Weight.ToDoubleArray(), OutF, InF); // [in, out]
        var h = Mul(wt, Transpose(a, r, OutF), InF, OutF, r).Select(v => Math.Max(v, 0)).ToArray();
        var deltaT = Mul(h, Transpose(b, OutF, r), InF, r, OutF).Select(v => 0.7 * v).ToArray();
        AssertClose(Transpose(deltaT, InF, OutF), layer.DeltaWeight("a").ToDoubleArray(), 1e-12);

        var x = Randn64(2, 4, InF);
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var expected = NaiveMatMulT(x.ToDoubleArray(), 4, Add(w, Transpose(deltaT, InF, OutF)), InF, OutF).Select((v, i) => v + bias[i % OutF]).ToArray();
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void DepthTwo_ChainsEncodersThenDecoders_AddingTheEncoderInputsInReverse()
    {
        const int r = 3;
        var layer = Peanut(new PeanutConfig { R = r, Depth = 2, ActFn = "tanh", InitWeights = false });
        double[] Act(double[] v) => v.Select(Math.Tanh).ToArray();
        double[] Apply(double[] h, string member) => Mul(h, Transpose(Weight(layer, member), r, r), InF, r, r); // h Eᵀ
        var wt = Transpose(layer.BaseLayer.Weight.ToDoubleArray(), OutF, InF);
        var h0 = Act(Mul(wt, Transpose(Weight(layer, "peanut_A.weight"), r, OutF), InF, OutF, r));
        var h1 = Act(Apply(h0, "peanut_encoders.0.weight"));
        var h2 = Act(Apply(h1, "peanut_encoders.1.weight"));
        var d0 = Add(Act(Apply(h2, "peanut_decoders.0.weight")), h1);
        var d1 = Add(Act(Apply(d0, "peanut_decoders.1.weight")), h0);
        var deltaT = Mul(d1, Transpose(Weight(layer, "peanut_B.weight"), OutF, r), InF, r, OutF);
        AssertClose(Transpose(deltaT, InF, OutF), layer.DeltaWeight("a").ToDoubleArray(), 1e-12);
        var x = Randn64(3, 2, InF);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void DefaultInit_StartsAtTheBase_WithOnlyBZero_AndTheOthersKaimingUniform()
    {
        var layer = Peanut(new PeanutConfig { R = 4, Depth = 1 });
        Assert.All(Weight(layer, "peanut_B.weight"), v => Assert.Equal(0, v));
        // nn.Linear's init: U(±1 / sqrt(fan_in)); A reads the out columns of W.
        Assert.All(Weight(layer, "peanut_A.weight"), v => Assert.InRange(Math.Abs(v), 1e-9, 1 / Math.Sqrt(OutF)));
        Assert.All(Weight(layer, "peanut_encoders.0.weight"), v => Assert.InRange(Math.Abs(v), 1e-9, 0.5));
        var x = Randn64(5, 2, InF);
        Assert.Equal(layer.BaseLayer.Forward(x).ToDoubleArray(), layer.Forward(x).ToDoubleArray());
    }

    [Fact]
    public void DeltaWeight_FollowsTheBaseWeight()
    {
        var layer = Peanut(new PeanutConfig { R = 3, Depth = 1, ActFn = "silu", InitWeights = false });
        var before = layer.DeltaWeight("a").ToDoubleArray();
        using (Autograd.Autograd.NoGrad()) layer.BaseLayer.Weight.CopyFrom(layer.BaseLayer.Weight * 2);
        Assert.True(MaxDifference(before, layer.DeltaWeight("a").ToDoubleArray()) > 1e-3);
    }

    static double MaxDifference(double[] a, double[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max();

    [Fact]
    public void TwoMergedAdapters_KeepTheOutput_AndUnmergingRestoresTheWeightBitForBit()
    {
        var peft = Peft.Apply(TinyGpt(), new PeanutConfig { R = 2, InitWeights = false, TargetModules = ["qkv", "fc"], Seed = 3 }, "one");
        peft.AddAdapter("two", new PeanutConfig { R = 3, Depth = 1, ActFn = "gelu", InitWeights = false, TargetModules = ["qkv"], Seed = 4 });
        peft.SetAdapter(["one", "two"]);
        var x = Ids();
        var weights = peft.AdapterLayers().Select(l => l.Layer.BaseLayer.Weight.ToArray<float>()).ToList();
        var unmerged = peft.Forward(x).ToDoubleArray();
        peft.Merge(["two"]);
        AssertClose(unmerged, peft.Forward(x).ToDoubleArray(), 1e-5, "two merged, one in the forward");
        peft.Merge(["one"]);
        AssertClose(unmerged, peft.Forward(x).ToDoubleArray(), 1e-5, "both merged");
        peft.Unmerge();
        var restored = peft.AdapterLayers().Select(l => l.Layer.BaseLayer.Weight.ToArray<float>()).ToList();
        for (int i = 0; i < weights.Count; i++) Assert.Equal(weights[i], restored[i]);
    }

    [Theory]
    [InlineData("relu", 1.5, 1.5)]
    [InlineData("relu6", 7.0, 6.0)]
    [InlineData("relu2", -2.0, 0.0)]
    [InlineData("relu2", 3.0, 9.0)]
    [InlineData("leaky_relu", -2.0, -0.02)]
    [InlineData("linear", -1.25, -1.25)]
    [InlineData("tanh", 0.5, 0.46211715726000974)]
    [InlineData("sigmoid", 1.0, 0.7310585786300049)]
    [InlineData("silu", 1.0, 0.7310585786300049)]
    [InlineData("swish", -1.0, -0.2689414213699951)]
    // 0.5 x (1 + erf(x / sqrt 2)) and 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) at x = 1.
    [InlineData("gelu", 1.0, 0.8413447460685429)]
    [InlineData("gelu_new", 1.0, 0.8411919906082768)]
    [InlineData("gelu_pytorch_tanh", 1.0, 0.8411919906082768)]
    [InlineData("quick_gelu", 1.0, 0.8457957659328212)] // x sigmoid(1.702 x)
    [InlineData("mish", 1.0, 0.8650983882673103)]      // x tanh(ln(1 + e^x))
    [InlineData("laplace", 0.707107, 0.5)]
    public void HfActivation_ComputesTheNamedFunction(string name, double x, double expected)
    {
        var y = HfActivation.Get(name)(Tensor.FromArray(new[] { x }));
        AssertClose(expected, y.ToDoubleArray()[0], 1e-12, name);
    }

    [Fact]
    public void Config_RefusesAnUnknownActivation_NamingTheField()
    {
        var e = Assert.Throws<ArgumentException>(() => new PeanutConfig { ActFn = "prelu" }.Validate());
        Assert.Contains("act_fn", e.Message);
        Assert.Throws<ArgumentException>(() => new PeanutConfig { Depth = -1 }.Validate());
    }
}
