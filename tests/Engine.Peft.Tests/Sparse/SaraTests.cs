using Engine.Autograd;
using Engine.Peft.Sparse;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Sparse;

/// <summary>SaRA: only entries below the threshold move, masked training is AdamW on the gathered values, the regulariser and re-selection.</summary>
public class SaraTests
{
    static readonly ModuleSelector Targets = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"];

    static (PeftModel<Gpt> Peft, Dictionary<string, double[]> W0) Trained(SaraConfig config, int steps, double weightDecay = 0.01)
    {
        var gpt = TinyGpt();
        var peft = Peft.Apply(gpt, config);
        var w0 = peft.AdapterLayers().ToDictionary(l => l.Path, l => ((SaraLayer)l.Layer).BaseLayer.Weight.ToDoubleArray());
        var ids = Ids();
        new Trainer(peft, new AdamW(peft.ParamGroups(3e-2, weightDecay)), new TrainerOptions(steps))
            .Run(_ => Losses.CrossEntropy(peft.Forward(ids.Narrow(1, 0, 4)), ids.Narrow(1, 1, 4)));
        return (peft, w0);
    }

    static double[] Effective(SaraLayer layer, string name = "default")
    {
        using var _ = Autograd.Autograd.NoGrad();
        return (layer.BaseLayer.Weight + layer.DeltaWeight(name)).ToDoubleArray();
    }

    [Fact]
    public void Training_ChangesOnlyEntriesBelowTheThreshold_AndLeavesTheOthersBitIdentical()
    {
        const double theta = 0.12;
        var (peft, w0) = Trained(new SaraConfig { Threshold = theta, LambdaRank = 1e-2, NuclearMinDim = 4, UseJobLr = true, TargetModules = Targets, Seed = 2 }, 4);
        // The regulariser took part (the tiny GPT's weights are 8 to 24 wide, with more than 100 entries below θ).
        Assert.NotNull(((SaraModelPart)peft.ModelPart("default")!).LastRegularized);
        int changed = 0;
        foreach (var (path, layer) in peft.AdapterLayers())
        {
            var before = w0[path];
            var after = Effective((SaraLayer)layer);
            for (int i = 0; i < before.Length; i++)
            {
                if (Math.Abs(before[i]) >= theta)
                    Assert.Equal(BitConverter.DoubleToInt64Bits(before[i]), BitConverter.DoubleToInt64Bits(after[i]));
                else if (after[i] != before[i]) changed++;
            }
            // The base weight itself never moves.
            Assert.Equal(before, ((SaraLayer)layer).BaseLayer.Weight.ToDoubleArray());
        }
        Assert.True(changed > 100, $"only {changed} entries below the threshold moved");
    }

    [Fact]
    public void WithoutTheRegulariser_TrainingIsMaskedAdamWOnTheDenseWeight()
    {
        // Naive reference: the dense weight W, its dense gradient, torch's AdamW step on every entry, then the entries
        // outside P put back (sjtuplayer/SaRA optim/adamw2.py), with no weight decay.
        const int inF = 6, outF = 5, n = 4;
        const double theta = 0.2, lr = 0.05;
        var layer = StandaloneLayer(l => new SaraLayer(l), inF, outF, new SaraConfig { Threshold = theta, LambdaRank = 0 });
        var x = Randn64(8, n, inF);
        var target = Randn64(9, n, outF);
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var inP = w.Select(v => Math.Abs(v) < theta).ToArray();
        Assert.Contains(true, inP);
        Assert.Contains(false, inP);
        var values = layer.Values("a");
        var optimizer = new AdamW([values], lr, weightDecay: 0);
        double[] m = new double[w.Length], v2 = new double[w.Length];
        var xs = x.ToDoubleArray();
        var ts = target.ToDoubleArray();
        for (int step = 1; step <= 3; step++)
        {
            // Engine: the adapter's values, the engine's AdamW.
            var loss = (layer.Forward(x) - target).Square().Sum();
            loss.Backward();
            optimizer.Step();
            optimizer.ZeroGrad();
            // Reference: dL/dW = 2 (x W^T + b - t)^T x, dense.
            var y = NaiveMatMulT(xs, n, w, inF, outF);
            var grad = new double[w.Length];
            for (int r = 0; r < n; r++)
                for (int o = 0; o < outF; o++)
                {
                    double e = 2 * (y[r * outF + o] + bias[o] - ts[r * outF + o]);
                    for (int i = 0; i < inF; i++) grad[o * inF + i] += e * xs[r * inF + i];
                }
            double c1 = 1 - Math.Pow(0.9, step), c2 = 1 - Math.Pow(0.999, step);
            for (int i = 0; i < w.Length; i++)
            {
                m[i] = 0.9 * m[i] + 0.1 * grad[i];
                v2[i] = 0.999 * v2[i] + 0.001 * grad[i] * grad[i];
                double updated = w[i] - lr / c1 * m[i] / (Math.Sqrt(v2[i] / c2) + 1e-8);
                if (inP[i]) w[i] = updated;
            }
            AssertClose(w, Effective(layer, "a"), 1e-12, $"step {step}");
        }
    }

    [Fact]
    public void NuclearNorm_IsTheSumOfSingularValues_WithTheSvdGradient()
    {
        // R(θ) diag(3, -4) has singular values 3 and 4.
        double c = Math.Cos(0.3), s = Math.Sin(0.3);
        var x = Tensor.FromArray(new[] { c * 3, -s * -4, s * 3, c * -4 }, [2, 2]);
        Assert.Equal(7, new NuclearNorm().Apply(x).Item(), 12);
        var a = Randn64(3, 5, 4);
        a.RequiresGrad = true;
        var check = GradCheck.Check(t => new NuclearNorm().Apply(t[0]), [a]);
        Assert.True(check.Passed, check.Message);
    }

    [Fact]
    public void Regularizer_TakesOnlyWeightsAboveTheMinimumDimension()
    {
        var gpt = TinyGpt();
        // θ above every |w|: each weight has all its entries trained (more than the reference's 100).
        var peft = Peft.Apply(gpt, new SaraConfig { Threshold = 100, TargetModules = Targets, Seed = 1 });
        // Tiny widths: the reference's 64 leaves no candidate.
        Assert.Null(peft.RegularizationLoss());
        var part = (SaraModelPart)peft.ModelPart("default")!;
        int smallest = peft.AdapterLayers().Select(l => Math.Min(((SaraLayer)l.Layer).OutFeatures, ((SaraLayer)l.Layer).InFeatures)).Max();
        peft.UpdateConfig("default", (SaraConfig)peft.PeftConfigs["default"] with { NuclearMinDim = smallest, LambdaRank = 0.5 });
        // No weight has min(out, in) above the largest min(out, in); one below it, and there are candidates.
        Assert.Null(peft.RegularizationLoss());
        peft.UpdateConfig("default", (SaraConfig)peft.PeftConfigs["default"] with { NuclearMinDim = smallest - 1 });
        Assert.NotNull(part);
                var term = part.Regularizer(peft);
        Assert.NotNull(part.LastRegularized);
        Assert.NotNull(term);
        var layer = (SaraLayer)peft.AdapterLayers().Single(l => l.Path == part.LastRegularized).Layer;
        Assert.NotNull(peft.RegularizationLoss());
        // At the start ΔW = 0 and M = 1: the term is λ ‖W0‖_*.
        var (_, sv, _) = Linalg.Svd(layer.BaseLayer.Weight);
        Assert.Equal(0.5 * sv.Sum().Item(), term!.Item(), 5);
    }

    [Fact]
    public void MaskedWeight_IsTheCurrentWeightOnP_AndZeroElsewhere()
    {
        var layer = StandaloneLayer(l => new SaraLayer(l), 6, 5, new SaraConfig { Threshold = 0.2 });
        Scramble(layer.Values("a"), 4, 0.1);
        var w0 = layer.BaseLayer.Weight.ToDoubleArray();
        var values = layer.Values("a").ToDoubleArray();
        var positions = layer.Positions("a").ToArray<long>();
        var expected = new double[w0.Length];
        for (int i = 0; i < positions.Length; i++) expected[positions[i]] = w0[positions[i]] + values[i];
        Assert.Equal(Enumerable.Range(0, w0.Length).Where(i => Math.Abs(w0[i]) < 0.2).Select(i => (long)i), positions);
        AssertClose(expected, layer.MaskedWeight("a").ToDoubleArray(), 1e-15);
    }

    [Fact]
    public void ProgressiveReselection_FreezesTheEntriesThatLeftTheThreshold()
    {
        const double theta = 0.12;
        var config = new SaraConfig { Threshold = theta, LambdaRank = 0, ProgressiveIter = 3, UseJobLr = true, TargetModules = Targets, Seed = 2 };
        var gpt = TinyGpt();
        var peft = Peft.Apply(gpt, config);
        var layers = peft.AdapterLayers().Select(l => (SaraLayer)l.Layer).ToList();
        var ids = Ids();
        var optimizer = new AdamW(peft.ParamGroups(5e-2, 0.01));
        Dictionary<SaraLayer, double[]>? atReselection = null;
        int step = 0;
        new Trainer(peft, optimizer, new TrainerOptions(7)).Run(_ =>
        {
            if (step++ == 3) atReselection = layers.ToDictionary(l => l, l => Effective(l));
            return Losses.CrossEntropy(peft.Forward(ids.Narrow(1, 0, 4)), ids.Narrow(1, 1, 4));
        });
        Assert.NotNull(atReselection);
        int frozen = 0, moved = 0;
        foreach (var layer in layers)
        {
            frozen += layer.FrozenCount("default");
            var then = atReselection![layer];
            var now = Effective(layer);
            var positions = layer.Positions("default").ToArray<long>();
            foreach (var p in positions)
                if (!(Math.Abs(then[p]) < theta)) Assert.Equal(then[p], now[p]);
                else if (then[p] != now[p]) moved++;
        }
        Assert.True(frozen > 0, "no entry left the threshold in 3 steps at lr 5e-2");
        Assert.True(moved > 0);
    }

    [Fact]
    public void LearningRate_FollowsTheReferenceRuleUnlessGiven()
    {
        Assert.Equal(1e-3 * Math.Exp(-0.7), SaraConfig.ThresholdLearningRate(2e-3), 15);
        Assert.Equal(4.966e-4, new SaraConfig().LearningRate(1e-2), 7);
        Assert.Equal(3e-3, new SaraConfig { Lr = 3e-3 }.LearningRate(1e-2));
        Assert.Equal(1e-2, new SaraConfig { Lr = 3e-3, UseJobLr = true }.LearningRate(1e-2));
        var peft = Peft.Apply(TinyGpt(), new SaraConfig { Threshold = 0.1, TargetModules = Targets });
        var group = Assert.Single(peft.ParamGroups(1e-2, 0));
        Assert.Equal(SaraConfig.ThresholdLearningRate(0.1), group.Lr);
        Assert.Throws<ArgumentException>(() => new SaraConfig { Threshold = 0 }.Validate());
    }
}
