using Engine.Peft.Sparse;
using Engine.Tests.Shared;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Sparse;

/// <summary>
/// SLTrain (arXiv 2406.02214; adapters-other.md §3): the spec's oracles — the materialised weight equals the forward,
/// and the gradient of the values is the dense weight gradient gathered at Ω — computed by loops; the reference's
/// initialisation; the two forms (replacing W0, or adding to it); and the paper's point: the support never changes
/// while the model trains.
/// </summary>
public class SltrainTests
{
    const int In = 12, Out = 10;

    static SltrainConfig Config(bool replace = true, bool trainableScaling = false) =>
        new() { R = 3, LoraAlpha = 6, SpRatio = 0.2, ReplaceWeight = replace, TrainableScaling = trainableScaling, Seed = 9 };

    static SltrainLayer Layer(bool replace = true, bool trainableScaling = false, bool scramble = true)
    {
        var layer = StandaloneLayer(l => new SltrainLayer(l), In, Out, Config(replace, trainableScaling));
        ulong seed = 40;
        if (scramble) foreach (var p in layer.TrainableParameters()) Scramble(p, seed++, 0.5);
        return layer;
    }

    // W = B (s A) + S by loops, S from the saved positions.
    static double[] NaiveWeight(SltrainLayer layer, double scale)
    {
        var b = layer.B("a").ToDoubleArray();
        var a = layer.A("a").ToDoubleArray();
        int r = layer.A("a").Size(0);
        var w = new double[Out * In];
        for (int i = 0; i < Out; i++)
            for (int j = 0; j < In; j++)
                for (int k = 0; k < r; k++) w[i * In + j] += b[i * r + k] * scale * a[k * In + j];
        var positions = layer.Positions("a").ToArray<long>();
        var values = layer.SparseValues("a").ToDoubleArray();
        for (int k = 0; k < positions.Length; k++) w[positions[k]] += values[k];
        return w;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DenseMaterialisation_EqualsTheForward_AndTheMerge(bool trainableScaling)
    {
        var layer = Layer(trainableScaling: trainableScaling);
        double scale = trainableScaling ? Math.Tanh(layer.TrainableParameters().Single(p => p.Numel == 1).Item()) : 6.0 / 3;
        var w = NaiveWeight(layer, scale);
        var bias = layer.Bias("a")!.ToDoubleArray();
        var x = Randn64(5, 4, In);
        var expected = NaiveMatMulT(x.ToDoubleArray(), 4, w, In, Out).Select((v, n) => v + bias[n % Out]).ToArray();
        Approx.AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
        // Merging writes exactly that weight and bias (scatter-add), and unmerging gives W0 and b0 back bit for bit.
        var (w0, b0) = (layer.BaseLayer.Weight.ToDoubleArray(), layer.BaseLayer.Bias!.ToDoubleArray());
        layer.Merge();
        Approx.AssertClose(w, layer.BaseLayer.Weight.ToDoubleArray(), 1e-12);
        Assert.Equal(bias, layer.BaseLayer.Bias!.ToDoubleArray());
        Approx.AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
        layer.Unmerge();
        Assert.Equal(w0, layer.BaseLayer.Weight.ToDoubleArray());
        Assert.Equal(b0, layer.BaseLayer.Bias!.ToDoubleArray());
    }

    [Fact]
    public void Gradients_AreTheDenseWeightGradientGatheredAtOmega_AndThroughTheFactors()
    {
        var layer = Layer();
        var x = Randn64(6, 5, In);
        var g = Randn64(7, 5, Out);
        (layer.Forward(x) * g).Sum().Backward();
        // G_W = G_yᵀ X [out, in] by loops.
        var (xs, gs) = (x.ToDoubleArray(), g.ToDoubleArray());
        var gw = new double[Out * In];
        for (int n = 0; n < 5; n++)
            for (int i = 0; i < Out; i++)
                for (int j = 0; j < In; j++) gw[i * In + j] += gs[n * Out + i] * xs[n * In + j];
        var positions = layer.Positions("a").ToArray<long>();
        Approx.AssertClose(positions.Select(p => gw[p]).ToArray(), layer.SparseValues("a").Grad!.ToDoubleArray(), 1e-12);
        // grad_B = G_W (sA)ᵀ and grad_A = s Bᵀ G_W (the reference's backward).
        const double s = 2.0;
        var (a, b) = (layer.A("a").ToDoubleArray(), layer.B("a").ToDoubleArray());
        var gradB = new double[Out * 3];
        var gradA = new double[3 * In];
        for (int i = 0; i < Out; i++)
            for (int k = 0; k < 3; k++)
                for (int j = 0; j < In; j++)
                {
                    gradB[i * 3 + k] += gw[i * In + j] * s * a[k * In + j];
                    gradA[k * In + j] += s * b[i * 3 + k] * gw[i * In + j];
                }
        Approx.AssertClose(gradB, layer.B("a").Grad!.ToDoubleArray(), 1e-12);
        Approx.AssertClose(gradA, layer.A("a").Grad!.ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void ReplaceForm_IgnoresTheWrappedWeight_AndStartsWithTheReferenceInitialisation()
    {
        var layer = Layer(scramble: false);
        int k = (int)Math.Floor(0.2 * In * Out);
        var positions = layer.Positions("a").ToArray<long>();
        Assert.Equal(k, positions.Length);
        Assert.Equal(positions.Order().Distinct(), positions);
        Assert.All(positions, p => Assert.InRange(p, 0, In * Out - 1));
        Assert.All(layer.B("a").ToDoubleArray(), v => Assert.Equal(0, v));
        Assert.All(layer.SparseValues("a").ToDoubleArray(), v => Assert.InRange(Math.Abs(v), 1e-9, 1 / Math.Sqrt(In)));
        Assert.All(layer.A("a").ToDoubleArray(), v => Assert.InRange(Math.Abs(v), 0, 1 / Math.Sqrt(In)));
        Assert.All(layer.Bias("a")!.ToDoubleArray(), v => Assert.InRange(Math.Abs(v), 0, 1 / Math.Sqrt(Out)));
        var x = Randn64(5, 3, In);
        var before = layer.Forward(x).ToDoubleArray();
        using (Autograd.Autograd.NoGrad()) layer.BaseLayer.Weight.CopyFrom(Randn64(8, Out, In));
        Assert.Equal(before, layer.Forward(x).ToDoubleArray());
    }

    [Fact]
    public void AdditiveForm_StartsAtTheBase_AndAddsTheMaterialisedWeight()
    {
        var fresh = Layer(replace: false, scramble: false);
        var x = Randn64(5, 3, In);
        Assert.Equal(fresh.BaseLayer.Forward(x).ToDoubleArray(), fresh.Forward(x).ToDoubleArray());
        Assert.Null(fresh.Bias("a"));
        var layer = Layer(replace: false);
        var w = NaiveWeight(layer, 2.0);
        var w0 = layer.BaseLayer.Weight.ToDoubleArray();
        var sum = w.Select((v, n) => v + w0[n]).ToArray();
        var b0 = layer.BaseLayer.Bias!.ToDoubleArray();
        var expected = NaiveMatMulT(x.ToDoubleArray(), 3, sum, In, Out).Select((v, n) => v + b0[n % Out]).ToArray();
        Approx.AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
    }

    // The paper's point: Ω is drawn once and never moves; after AdamW steps (with weight decay) the sparse part is still
    // zero off Ω and the positions are bit-identical, while the values moved.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Training_NeverChangesTheSupport(bool replace)
    {
        var model = TinyGpt();
        var peft = Peft.Apply(model, Config(replace) with { TargetModules = ["qkv", "mlp.fc", "mlp.proj"] });
        var layers = peft.AdapterLayers().Select(l => (SltrainLayer)l.Layer).ToList();
        var supports = layers.Select(l => l.Positions("default").ToArray<long>()).ToList();
        var values = layers.Select(l => l.SparseValues("default").ToDoubleArray()).ToList();
        var ids = Ids();
        var (input, target) = (ids.Narrow(1, 0, 4), ids.Narrow(1, 1, 4));
        peft.Train();
        new Trainer(peft, new AdamW(peft.TrainableParameters(), 1e-2, weightDecay: 0.1), new TrainerOptions(5))
            .Run(_ => Losses.CrossEntropy(peft.Forward(input), target));
        for (int n = 0; n < layers.Count; n++)
        {
            var l = layers[n];
            Assert.Equal(supports[n], l.Positions("default").ToArray<long>());
            Assert.NotEqual(values[n], l.SparseValues("default").ToDoubleArray());
            var on = supports[n].ToHashSet();
            var sparse = (l.DeltaWeight("default") - l.DensePart("default")!).Detach().ToDoubleArray();
            for (int p = 0; p < sparse.Length; p++)
                if (!on.Contains(p)) Assert.True(Math.Abs(sparse[p]) < 1e-6, $"entry {p} off Ω is {sparse[p]}");
            Assert.False(l.Positions("default").RequiresGrad);
        }
    }

    [Fact]
    public void Reparameterise_DropsTheDenseWeights_AndItsDenseStateGivesTheSameModel()
    {
        var config = new GptConfig(13, 16, 16, 2, 2, MlpRatio: 2);
        var model = (Gpt)new Gpt(config, new Generator(1)).Eval();
        long dense = model.ParameterCount();
        var paths = SltrainModel.Reparameterise(model, ["attn", "mlp"], new SltrainConfig { R = 2, LoraAlpha = 4, SpRatio = 0.1 }, new Generator(3));
        Assert.Equal(["blocks.0.attn.qkv", "blocks.0.attn.proj", "blocks.0.mlp.fc", "blocks.0.mlp.proj",
            "blocks.1.attn.qkv", "blocks.1.attn.proj", "blocks.1.mlp.fc", "blocks.1.mlp.proj"], paths);
        var state = model.StateDict();
        Assert.DoesNotContain(state.Keys, k => paths.Any(p => k == p + ".weight"));
        // Per block: qkv 16→48, proj 16→16, fc 16→32, proj 32→16: in·out = 768 + 256 + 512 + 512 = 2048 become
        // r (in + out) + ⌊0.1 in·out⌋ = 128 + 76 + 64 + 25 + 96 + 51 + 96 + 51 = 587.
        Assert.Equal(dense - 2 * (2048 - 587), model.ParameterCount());
        var ids = Ids();
        var logits = model.Forward(ids).ToDoubleArray();
        var copy = (Gpt)new Gpt(config, new Generator(2)).Eval();
        copy.LoadStateDict(SltrainModel.DenseState(model));
        Approx.AssertClose(logits, copy.Forward(ids).ToDoubleArray(), 1e-5);
    }

    // The pre-training module's fused op (W formed again in the backward, never kept) against autograd through the
    // materialised weight: same output, same gradients of A, B, the values, θ, the bias and the input.
    [Fact]
    public void FusedOp_EqualsAutogradThroughTheMaterialisedWeight()
    {
        var layer = new SltrainLinear(In, Out, bias: true, Config(trainableScaling: true), new Generator(4));
        layer.To(DType.Float64);
        ulong seed = 60;
        foreach (var p in layer.Parameters()) Scramble(p, seed++, 0.5);
        var x = Randn64(3, 2, 4, In);
        x.RequiresGrad = true;
        var g = Randn64(9, 2, 4, Out);
        var tensors = layer.Parameters().Append(x).ToList();
        (layer.Forward(x) * g).Sum().Backward();
        var fused = tensors.Select(t => t.Grad!.ToDoubleArray()).ToList();
        var y = layer.Forward(x).ToDoubleArray();
        foreach (var t in tensors) t.Grad = null;
        var dense = x.Reshape(-1, In).MatMul(layer.Weight().T) + layer.Bias!;
        Approx.AssertClose(y, dense.ToDoubleArray(), 1e-12);
        (dense.Reshape(2, 4, Out) * g).Sum().Backward();
        for (int n = 0; n < tensors.Count; n++) Approx.AssertClose(tensors[n].Grad!.ToDoubleArray(), fused[n], 1e-12, $"tensor {n}");
    }

    [Theory]
    [InlineData(0, 8, 0.1)]
    [InlineData(2, 8, 0.0)]
    [InlineData(2, 8, 1.0)]
    [InlineData(2, double.NaN, 0.1)]
    public void InvalidConfigs_AreRefusedByName(int r, double alpha, double density)
    {
        var e = Assert.Throws<ArgumentException>(() => new SltrainConfig { R = r, LoraAlpha = alpha, SpRatio = density }.Validate());
        Assert.Contains("SltrainConfig", e.Message);
    }

    [Fact]
    public void ADensityGivingNoEntry_IsRefusedWithThePath()
    {
        var e = Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), new SltrainConfig { R = 2, SpRatio = 0.001, TargetModules = ["qkv"] }));
        Assert.Contains("sp_ratio", e.Message);
    }
}
