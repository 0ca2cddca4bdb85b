using Engine.Nn.Checkpoints;
using Engine.Peft.Inserted;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Inserted;

/// <summary>
/// Compacter (arXiv 2106.04647): the rule matrices are one tensor shared by every adapter layer and saved once; the
/// trainable count is n³ + Σ_layers 2 rank (d + m) + d + m; with one Kronecker term and full rank it is exactly a
/// Houlsby bottleneck with the same weights; the layer's forward equals the explicit Kronecker sums (loops).
/// </summary>
public class CompacterTests
{
    static readonly ModuleSelector Outputs = ["attn.proj", "mlp.proj"];

    static Tensor Param(Module m, string name) => m.NamedParameters().First(p => p.Name == name).Parameter;

    static void Set(Tensor t, Tensor value)
    {
        using (Autograd.Autograd.NoGrad()) t.CopyFrom(value);
    }

    [Fact]
    public void Rules_AreOneTensorSharedByEveryLayer_AndSavedOnce()
    {
        var peft = Peft.Apply(TinyGpt(), new CompacterConfig { ReductionFactor = 2, PhmDim = 2, TargetModules = Outputs, Seed = 3 });
        var part = (CompacterRules)peft.ModelPart("default")!;
        var layers = peft.AdapterLayers().Select(l => (CompacterLayer)l.Layer).ToList();
        Assert.Equal(4, layers.Count);
        Assert.All(layers, l => Assert.Same(part.Rules, l.Rules("default")));
        // One trained tensor, stepped once: the model's parameters hold it once.
        Assert.Single(peft.TrainableParameters(), p => ReferenceEquals(p, part.Rules));
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var file = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            Assert.Single(file.Keys, k => k.Contains("phm_rule"));
            Assert.Equal(CompacterRules.Key, file.Keys.Single(k => k.Contains("phm_rule")));
            var loaded = Peft.FromPretrained(TinyGpt(), folder);
            using (Autograd.Autograd.NoGrad()) Assert.Equal(peft.Forward(Ids()).ToDoubleArray(), loaded.Forward(Ids()).ToDoubleArray());
            var loadedPart = (CompacterRules)loaded.ModelPart("default")!;
            Assert.All(loaded.AdapterLayers(), l => Assert.Same(loadedPart.Rules, ((CompacterLayer)l.Layer).Rules("default")));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Theory]
    [InlineData(2, 1, 2.0)]
    [InlineData(4, 1, 2.0)]
    [InlineData(2, 3, 4.0)]
    public void TrainableCount_IsNCubedPlusTwoRankDPlusMPlusDPlusMPerLayer(int n, int rank, double reduction)
    {
        var peft = Peft.Apply(TinyGpt(), new CompacterConfig { ReductionFactor = reduction, PhmDim = n, PhmRank = rank, TargetModules = Outputs });
        const int d = 8;
        int m = (int)(d / reduction), layers = 4;
        Assert.Equal((long)n * n * n + layers * (2L * rank * (d + m) + d + m), peft.ParameterCount(trainableOnly: true));
    }

    [Fact]
    public void WithOneTermAndFullRank_ItIsTheBottleneckAdapterWithTheSameWeights()
    {
        const int d = 8, m = 4;
        var bottleneck = Peft.Apply(TinyGpt(), new BottleneckConfig { BottleneckSize = m, TargetModules = Outputs, Seed = 3 });
        var compacter = Peft.Apply(TinyGpt(), new CompacterConfig { ReductionFactor = 2, PhmDim = 1, PhmRank = m, TargetModules = Outputs, Seed = 4 });
        bottleneck.To(DType.Float64);
        compacter.To(DType.Float64);
        ulong seed = 30;
        foreach (var p in bottleneck.TrainableParameters()) Scramble(p, seed++, 0.5);
        Set(((CompacterRules)compacter.ModelPart("default")!).Rules, Tensor.Ones([1, 1, 1], DType.Float64));
        var eye = Tensor.Eye(m, dtype: DType.Float64);
        foreach (var (path, layer) in compacter.AdapterLayers())
        {
            var c = (CompacterLayer)layer;
            var b = (BottleneckLayer)bottleneck.AdapterLayers().Single(l => l.Path == path).Layer;
            var (down, up) = (c.DownProjection("default"), c.UpProjection("default"));
            // H_down = W_left W_right [d, m] = W_downᵀ; H_up [m, d] = W_upᵀ.
            Set(Param(down, "W_left"), b.DownProjection("default").Weight.T.Reshape(1, d, m));
            Set(Param(down, "W_right"), eye.Reshape(1, m, m));
            Set(Param(down, "b"), b.DownProjection("default").Bias!);
            Set(Param(up, "W_left"), eye.Reshape(1, m, m));
            Set(Param(up, "W_right"), b.UpProjection("default").Weight.T.Reshape(1, m, d));
            Set(Param(up, "b"), b.UpProjection("default").Bias!);
        }
        using var _ = Autograd.Autograd.NoGrad();
        AssertClose(bottleneck.Forward(Ids()).ToDoubleArray(), compacter.Forward(Ids()).ToDoubleArray(), 1e-12);
        // And the adapters matter: without them the outputs differ.
        using (compacter.DisableAdapters())
            Assert.True((compacter.Forward(Ids()) - bottleneck.Forward(Ids())).Abs().Max().Item() > 1e-3);
    }

    [Fact]
    public void Forward_IsTheResidualPlusTheProjectionsByExplicitKroneckerSums()
    {
        const int n = 2, d = 8, m = 4, rank = 2;
        var layer = StandaloneLayerWithRules(n, rank, out var rules);
        ulong seed = 40;
        foreach (var p in layer.TrainableParameters()) Scramble(p, seed++, 0.5);
        Set(rules, Randn64(50, n, n, n));
        var x = Randn64(51, 3, d);
        var h = layer.BaseLayer.Forward(x).ToDoubleArray();
        double[] Project(CompacterProjection proj, double[] z, int rows, int inF, int outF)
        {
            var a = rules.ToDoubleArray();
            var w = Param(proj, "W_left").MatMul(Param(proj, "W_right")).ToDoubleArray();  // [n, in/n, out/n]
            int p = inF / n, q = outF / n;
            var hMat = new double[inF * outF];
            for (int i = 0; i < n; i++)
                for (int r0 = 0; r0 < n; r0++)
                    for (int c0 = 0; c0 < n; c0++)
                        for (int r1 = 0; r1 < p; r1++)
                            for (int c1 = 0; c1 < q; c1++)
                                hMat[(r0 * p + r1) * outF + c0 * q + c1] += a[(i * n + r0) * n + c0] * w[(i * p + r1) * q + c1];
            var bias = Param(proj, "b").ToDoubleArray();
            var y = new double[rows * outF];
            for (int row = 0; row < rows; row++)
                for (int o = 0; o < outF; o++)
                {
                    double s = bias[o];
                    for (int k = 0; k < inF; k++) s += z[row * inF + k] * hMat[k * outF + o];
                    y[row * outF + o] = s;
                }
            return y;
        }
        var zDown = Project(layer.DownProjection("a"), h, 3, d, m);
        var act = Tensor.FromArray(zDown).Reshape(3, m).Gelu().ToDoubleArray();
        var zUp = Project(layer.UpProjection("a"), act, 3, m, d);
        var expected = h.Select((v, i) => v + zUp[i]).ToArray();
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    // A standalone layer needs the model part: apply to a one-target model and take that layer.
    static CompacterLayer StandaloneLayerWithRules(int n, int rank, out Tensor rules)
    {
        var peft = Peft.Apply(TinyGpt(layers: 1), new CompacterConfig { ReductionFactor = 2, PhmDim = n, PhmRank = rank, TargetModules = ["attn.proj"] }, "a");
        peft.To(DType.Float64);
        rules = ((CompacterRules)peft.ModelPart("a")!).Rules;
        return (CompacterLayer)peft.AdapterLayers().Single().Layer;
    }

    [Fact]
    public void Init_FollowsTheReferenceKeys_RulesSmallBiasesZero()
    {
        var peft = Peft.Apply(TinyGpt(), new CompacterConfig { ReductionFactor = 2, TargetModules = Outputs, Seed = 3 });
        var rules = ((CompacterRules)peft.ModelPart("default")!).Rules;
        Assert.Equal([4, 4, 4], rules.Shape);
        Assert.True(rules.Abs().Max().Item() < 1e-3);  // N(0, 1e-4²): phm_c_init normal, phm_init_range
        var layer = (CompacterLayer)peft.AdapterLayers().First().Layer;
        Assert.Equal([4, 2, 1], Param(layer.DownProjection("default"), "W_left").Shape);
        Assert.Equal([4, 1, 1], Param(layer.DownProjection("default"), "W_right").Shape);
        Assert.All(Param(layer.UpProjection("default"), "b").ToDoubleArray(), v => Assert.Equal(0, v));
    }

    [Fact]
    public void ABottleneckThatPhmDimDoesNotDivide_IsANamedError()
    {
        // Width 8 / 8 = bottleneck 1, which n = 4 does not divide.
        var e = Assert.ThrowsAny<Exception>(() => Peft.Apply(TinyGpt(), new CompacterConfig { ReductionFactor = 8, TargetModules = Outputs }));
        Assert.Contains("phm_dim 4 must divide", e.ToString());
        Assert.Throws<ArgumentException>(() => new CompacterConfig { SharedPhmRule = false }.Validate());
    }
}
