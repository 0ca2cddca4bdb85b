using Engine.Peft.Subspace;
using Xunit;
using static Engine.Peft.Tests.Subspace.SubspaceTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Subspace;

/// <summary>
/// DeFT: ΔW = Q (s R - rightᵀ W), its two projectors, PaRa, the start at the base, and the paper's point: the part of
/// the weight outside the learned subspace is kept, the part inside is replaced by the injection.
/// </summary>
public class DeftTests
{
    const int InF = 6, OutF = 5;

    static DeftLayer Deft(DeftConfig config, int inF = InF, int outF = OutF) => Layer(l => new DeftLayer(l), inF, outF, config);

    [Theory]
    [InlineData("relu")]
    [InlineData("qr")]
    public void DeltaWeight_IsQTimesScaledRMinusRightTransposeW_AndTheForwardAddsIt(string method)
    {
        const int r = 3;
        var layer = Deft(new DeftConfig { R = r, Alpha = 7.5, DecompositionMethod = method, InitWeights = false });
        var p = layer.P("a").ToDoubleArray();
        var rr = layer.R("a")!.ToDoubleArray();
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        double[] q, right;
        if (method == "relu") (q, right) = (p, p.Select(v => Math.Max(v, 0)).ToArray());
        else
        {
            // Q spans P's columns with orthonormal columns: checked, then used as given.
            q = layer.Projection("a").Q.ToDoubleArray();
            right = q;
            AssertClose(Identity(r), Mul(Transpose(q, OutF, r), q, r, OutF, r), 1e-12, "QᵀQ");
            var coefficients = Mul(Transpose(q, OutF, r), p, r, OutF, r);
            AssertClose(p, Mul(q, coefficients, OutF, r, r), 1e-12, "P in span(Q)");
        }
        var inner = Add(rr.Select(v => v * 7.5 / r).ToArray(), Mul(Transpose(right, OutF, r), w, r, OutF, InF), -1);
        var delta = Mul(q, inner, OutF, r, InF);
        AssertClose(delta, layer.DeltaWeight("a").ToDoubleArray(), 1e-12);

        var x = Randn64(4, 3, InF);
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var expected = NaiveMatMulT(x.ToDoubleArray(), 3, Add(w, delta), InF, OutF).Select((v, i) => v + bias[i % OutF]).ToArray();
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Theory]
    [InlineData("relu", null)]
    [InlineData("qr", 4.0)]
    public void DefaultInit_StartsAtTheBase_WithRTheRemovedPartOverS(string method, double? alpha)
    {
        var layer = Deft(new DeftConfig { R = 2, DecompositionMethod = method, Alpha = alpha });
        var x = Randn64(5, 4, InF);
        AssertClose(layer.BaseLayer.Forward(x).ToDoubleArray(), layer.Forward(x).ToDoubleArray(), 1e-6);
        var (_, right) = layer.Projection("a");
        double s = alpha is { } a ? a / 2 : 1;
        var removed = Mul(Transpose(right.ToDoubleArray(), OutF, 2), layer.BaseLayer.Weight.ToDoubleArray(), 2, OutF, InF);
        // (R was computed in the Float32 layer, before it moved to Float64.)
        AssertClose(removed.Select(v => v / s).ToArray(), layer.R("a")!.ToDoubleArray(), 1e-6);
        // P ~ N(0, 0.02²): small and non-zero.
        Assert.All(layer.P("a").ToDoubleArray(), v => Assert.InRange(Math.Abs(v), 1e-9, 0.2));
    }

    [Fact]
    public void QrUpdate_KeepsTheWeightOutsideTheSubspace_AndPutsTheInjectionInside()
    {
        // W' = (I - Q Qᵀ) W + Q (s R): (I - Q Qᵀ) W' = (I - Q Qᵀ) W and Qᵀ W' = s R (Q has orthonormal columns).
        const int r = 2, inF = 7, outF = 6;
        var layer = Deft(new DeftConfig { R = r, Alpha = 3, DecompositionMethod = "qr", InitWeights = false }, inF, outF);
        var q = layer.Projection("a").Q.ToDoubleArray();
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var adapted = Add(w, layer.DeltaWeight("a").ToDoubleArray());
        var projector = Add(Identity(outF), Mul(q, Transpose(q, outF, r), outF, r, outF), -1);
        AssertClose(projector, Mul(projector, projector, outF, outF, outF), 1e-12, "I - QQᵀ is a projector");
        AssertClose(Mul(projector, w, outF, outF, inF), Mul(projector, adapted, outF, outF, inF), 1e-12, "outside the subspace");
        AssertClose(layer.R("a")!.ToDoubleArray().Select(v => v * 3.0 / r).ToArray(), Mul(Transpose(q, outF, r), adapted, r, outF, inF), 1e-12, "inside");
    }

    [Fact]
    public void Para_OnlyRemovesTheSubspace_WithoutR()
    {
        var layer = Deft(new DeftConfig { R = 2, Para = true });
        Assert.Null(layer.R("a"));
        Assert.DoesNotContain(layer.AdapterTensors("a"), t => t.Key == "deft_R");
        var p = layer.P("a").ToDoubleArray();
        var right = p.Select(v => Math.Max(v, 0)).ToArray();
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var expected = Mul(p, Mul(Transpose(right, OutF, 2), w, 2, OutF, InF), OutF, 2, InF).Select(v => -v).ToArray();
        AssertClose(expected, layer.DeltaWeight("a").ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void RankAboveTheOutputWidth_IsCappedAtIt()
    {
        var layer = Deft(new DeftConfig { R = 9, DecompositionMethod = "qr" }, 6, 4);
        Assert.Equal([4, 4], layer.P("a").Shape);
        Assert.Equal([4, 6], layer.R("a")!.Shape);
    }

    [Fact]
    public void TwoMergedAdapters_KeepTheOutput_AndUnmergingRestoresTheWeightBitForBit()
    {
        // Each ΔW reads the unmerged weight, also while the other adapter is merged (as PEFT's merge, and its forward).
        var peft = Peft.Apply(TinyGpt(), new DeftConfig { R = 2, Alpha = 4, InitWeights = false, TargetModules = ["qkv", "fc"], Seed = 3 }, "one");
        peft.AddAdapter("two", new DeftConfig { R = 3, DecompositionMethod = "qr", InitWeights = false, TargetModules = ["qkv"], Seed = 4 });
        peft.SetAdapter(["one", "two"]);
        var x = Ids();
        var weights = peft.AdapterLayers().Select(l => l.Layer.BaseLayer.Weight.ToArray<float>()).ToList();
        var unmerged = peft.Forward(x).ToDoubleArray();
        peft.Merge(["one"]);
        AssertClose(unmerged, peft.Forward(x).ToDoubleArray(), 1e-5, "one merged, two in the forward");
        peft.Merge(["two"]);
        AssertClose(unmerged, peft.Forward(x).ToDoubleArray(), 1e-5, "both merged");
        peft.Unmerge();
        var restored = peft.AdapterLayers().Select(l => l.Layer.BaseLayer.Weight.ToArray<float>()).ToList();
        for (int i = 0; i < weights.Count; i++) Assert.Equal(weights[i], restored[i]);
        AssertClose(unmerged, peft.Forward(x).ToDoubleArray(), 1e-6, "unmerged again");
    }

    [Fact]
    public void Config_RefusesAnUnknownDecompositionOrBias()
    {
        Assert.Contains("decomposition_method", Assert.Throws<ArgumentException>(() => new DeftConfig { DecompositionMethod = "svd" }.Validate()).Message);
        Assert.Contains("bias", Assert.Throws<NotSupportedException>(() => new DeftConfig { Bias = "some" }.Validate()).Message);
        // PEFT scales by alpha / r only when alpha is truthy: 0 and null mean 1.
        Assert.Equal(1.0, new DeftConfig { Alpha = 0 }.Scaling(4));
        Assert.Equal(2.0, new DeftConfig { Alpha = 8 }.Scaling(4));
    }
}
