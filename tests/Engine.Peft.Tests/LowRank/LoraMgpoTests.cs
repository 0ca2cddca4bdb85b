using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// LoRA-MGPO (<see cref="LoraMgpoLayer"/>, spec adapters-lowrank.md section 10): the perturbation against a naive
/// double-precision restatement of the reference's formulas, W0 restored bit for bit, ρ = 0 training equal to plain
/// LoRA bit for bit, and with ρ &gt; 0 a different trajectory whose evaluation-time model and file are plain LoRA's.
/// </summary>
public class LoraMgpoTests
{
    const int In = 5, Out = 4, Rank = 2;

    static LoraMgpoLayer Layer(LoraMgpoConfig? config = null) =>
        StandaloneLayer(l => new LoraMgpoLayer(l), In, Out, config ?? new LoraMgpoConfig { R = Rank, LoraAlpha = 3, Rho = 0.3, InitLoraWeights = false, Seed = 4 });

    // One Adam step with the given gradients, so that exp_avg = 0.1 grad.
    static Adam StepWith(LoraMgpoLayer layer, Tensor gradA, Tensor gradB)
    {
        var adam = new Adam([layer.LoraA("a"), layer.LoraB("a")], lr: 1e-3);
        layer.LoraA("a").Grad = gradA;
        layer.LoraB("a").Grad = gradB;
        adam.Step();
        return adam;
    }

    // s (mB A + B mA) by loops, in double.
    static double[] NaiveDirection(double s, double[] a, double[] b, double[] ma, double[] mb)
    {
        var first = NaiveProduct(mb, a, Out, Rank, In);
        var second = NaiveProduct(b, ma, Out, Rank, In);
        return first.Select((v, i) => s * (v + second[i])).ToArray();
    }

    static double Norm(double[] v) => Math.Sqrt(v.Sum(x => x * x));

    [Fact]
    public void Perturbation_IsMinusRhoTimesTheUnitMomentumDirection_BeforeTheFirstGradientNorm()
    {
        var layer = Layer();
        var adam = StepWith(layer, Randn64(21, Rank, In), Randn64(22, Out, Rank));
        double[] a = layer.LoraA("a").ToDoubleArray(), b = layer.LoraB("a").ToDoubleArray();
        var ma = adam.StateOf(layer.LoraA("a"), "exp_avg")!.ToDoubleArray();
        var mb = adam.StateOf(layer.LoraB("a"), "exp_avg")!.ToDoubleArray();
        var d = NaiveDirection(1.5, a, b, ma, mb);
        double norm = Norm(d);
        Assert.Null(layer.GradientEma("a"));
        // a = 1 before the first ĝ.
        AssertClose(d.Select(v => -0.3 * v / norm).ToArray(), layer.Perturbation("a", adam)!.ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void GradientEma_StartsAtTheFirstNormThenAverages_AndScalesThePerturbationUpToTen()
    {
        var layer = Layer(new LoraMgpoConfig { R = Rank, LoraAlpha = 3, Rho = 0.3, MgpoBeta = 0.8, InitLoraWeights = false, Seed = 4 });
        var adam = StepWith(layer, Randn64(21, Rank, In), Randn64(22, Out, Rank));
        double[] a = layer.LoraA("a").ToDoubleArray(), b = layer.LoraB("a").ToDoubleArray();
        double GradNorm(Tensor ga, Tensor gb) => Norm(NaiveDirection(1.5, a, b, ga.ToDoubleArray(), gb.ToDoubleArray()));

        Tensor ga1 = Randn64(31, Rank, In), gb1 = Randn64(32, Out, Rank), ga2 = Randn64(33, Rank, In) * 3, gb2 = Randn64(34, Out, Rank) * 3;
        layer.LoraA("a").Grad = ga1;
        layer.LoraB("a").Grad = gb1;
        layer.UpdateGradientEma();
        double g1 = GradNorm(ga1, gb1);
        Assert.Equal(g1, layer.GradientEma("a")!.Value, 12);
        layer.LoraA("a").Grad = ga2;
        layer.LoraB("a").Grad = gb2;
        layer.UpdateGradientEma();
        double g2 = 0.8 * g1 + 0.2 * GradNorm(ga2, gb2);
        Assert.Equal(g2, layer.GradientEma("a")!.Value, 12);

        var d = NaiveDirection(1.5, a, b, adam.StateOf(layer.LoraA("a"), "exp_avg")!.ToDoubleArray(), adam.StateOf(layer.LoraB("a"), "exp_avg")!.ToDoubleArray());
        double scale = Math.Min(1 / g2, 10);
        Assert.True(scale < 10, "the test needs ĝ > 0.1 here");
        AssertClose(d.Select(v => -0.3 * scale * v / Norm(d)).ToArray(), layer.Perturbation("a", adam)!.ToDoubleArray(), 1e-12);

        // A tiny gradient norm: a is clamped at 10.
        var tiny = Layer(new LoraMgpoConfig { R = Rank, LoraAlpha = 3, Rho = 0.3, InitLoraWeights = false, Seed = 4 });
        var adamTiny = StepWith(tiny, Randn64(21, Rank, In), Randn64(22, Out, Rank));
        tiny.LoraA("a").Grad = ga1 * 1e-6;
        tiny.LoraB("a").Grad = gb1 * 1e-6;
        tiny.UpdateGradientEma();
        Assert.True(tiny.GradientEma("a") < 0.1);
        AssertClose(d.Select(v => -3.0 * v / Norm(d)).ToArray(), tiny.Perturbation("a", adamTiny)!.ToDoubleArray(), 1e-10);
    }

    [Fact]
    public void Perturbation_IsNone_WithoutMoments_AtRhoZero_OrForAZeroDirection()
    {
        var layer = Layer();
        var fresh = new Adam([layer.LoraA("a"), layer.LoraB("a")]);
        Assert.Null(layer.Perturbation("a", fresh));
        Assert.Null(layer.Perturbation("a", null));
        var zero = Layer(new LoraMgpoConfig { R = Rank, LoraAlpha = 3, Rho = 0, InitLoraWeights = false, Seed = 4 });
        Assert.Null(zero.Perturbation("a", StepWith(zero, Randn64(21, Rank, In), Randn64(22, Out, Rank))));
        var vanishing = Layer();
        Assert.Null(vanishing.Perturbation("a", StepWith(vanishing, Tensor.Zeros([Rank, In], DType.Float64), Tensor.Zeros([Out, Rank], DType.Float64))));
    }

    [Fact]
    public void SgdMomentum_GivesTheDirectionToo()
    {
        var layer = Layer();
        var sgd = new Sgd([layer.LoraA("a"), layer.LoraB("a")], lr: 1e-3, momentum: 0.9);
        layer.LoraA("a").Grad = Randn64(21, Rank, In);
        layer.LoraB("a").Grad = Randn64(22, Out, Rank);
        sgd.Step();
        Assert.NotNull(layer.Perturbation("a", sgd));
    }

    [Fact]
    public void GradientDirection_UsesTheLastBackwardsGradients()
    {
        var layer = Layer(new LoraMgpoConfig { R = Rank, LoraAlpha = 3, Rho = 0.3, InitLoraWeights = false, MgpoNormalize = false, MgpoDirection = "gradient", Seed = 4 });
        Assert.Null(layer.Perturbation("a", null));
        Tensor ga = Randn64(31, Rank, In), gb = Randn64(32, Out, Rank);
        layer.LoraA("a").Grad = ga;
        layer.LoraB("a").Grad = gb;
        layer.UpdateGradientEma();
        var d = NaiveDirection(1.5, layer.LoraA("a").ToDoubleArray(), layer.LoraB("a").ToDoubleArray(), ga.ToDoubleArray(), gb.ToDoubleArray());
        // mgpo_normalize false: a = 1 although ĝ is set.
        AssertClose(d.Select(v => -0.3 * v / Norm(d)).ToArray(), layer.Perturbation("a", null)!.ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void PerturbThenRestore_AddsEpsilonIntoW0_AndGivesW0BackBitForBit()
    {
        var layer = Layer();
        layer.To(DType.Float32);
        var adam = StepWith(layer, Randn(21, Rank, In), Randn(22, Out, Rank));
        var w0 = layer.BaseLayer.Weight.ToArray<float>();
        var epsilon = layer.Perturbation("a", adam)!;
        layer.Perturb(adam);
        Assert.True(layer.Perturbed);
        AssertClose((Tensor.FromArray(w0, [Out, In]) + epsilon).ToDoubleArray(), layer.BaseLayer.Weight.ToDoubleArray(), 1e-7);
        layer.Restore();
        Assert.False(layer.Perturbed);
        Assert.Equal(w0, layer.BaseLayer.Weight.ToArray<float>());
        // Disabled or merged: no perturbation.
        layer.Disabled = true;
        layer.Perturb(adam);
        Assert.False(layer.Perturbed);
    }

    [Fact]
    public void Config_RefusesBadValuesByName()
    {
        Assert.Contains("rho", Assert.Throws<ArgumentException>(() => new LoraMgpoConfig { Rho = -1 }.Validate()).Message);
        Assert.Contains("mgpo_beta", Assert.Throws<ArgumentException>(() => new LoraMgpoConfig { MgpoBeta = 1 }.Validate()).Message);
        Assert.Contains("mgpo_eps", Assert.Throws<ArgumentException>(() => new LoraMgpoConfig { MgpoEps = 0 }.Validate()).Message);
        Assert.Contains("mgpo_direction", Assert.Throws<ArgumentException>(() => new LoraMgpoConfig { MgpoDirection = "sam" }.Validate()).Message);
        Assert.Contains("r must be positive", Assert.Throws<ArgumentException>(() => new LoraMgpoConfig { R = 0 }.Validate()).Message);
    }

    [Fact]
    public void EvaluationForward_EqualsLoraWithTheSameSeed_BitForBit()
    {
        var config = new LoraMgpoConfig { R = 2, LoraAlpha = 4, TargetModules = ["qkv", "proj", "fc"], InitLoraWeights = false, Seed = 7 };
        var mgpo = Peft.Apply(TinyGpt(), config);
        var lora = Peft.Apply(TinyGpt(), config.AsLoraConfig());
        Assert.Equal(lora.Forward(Ids()).ToArray<float>(), mgpo.Forward(Ids()).ToArray<float>());
    }

    static LoraMgpoConfig GptConfig(double rho) =>
        new() { R = 2, LoraAlpha = 4, Rho = rho, TargetModules = ["qkv", "proj", "fc"], InitLoraWeights = false, Seed = 7 };

    // Trains for `steps` Trainer steps with AdamW on the tiny GPT's next-token loss; `during` sees the model inside each step.
    static List<double> Train(PeftModel peft, int steps = 5, Action<int>? during = null)
    {
        var losses = new List<double>();
        new Trainer(peft, new AdamW(peft.TrainableParameters(), lr: 1e-2), new TrainerOptions(steps)).Run(step =>
        {
            during?.Invoke(step);
            var loss = PeftGoldenCheck.NextTokenLoss(peft.Forward(Ids()), Ids());
            losses.Add(loss.Item());
            return loss;
        });
        return losses;
    }

    static Dictionary<string, float[]> Trained(PeftModel peft) =>
        peft.NamedAdapterTensors("default").Where(t => t.Trainable).ToDictionary(t => t.Key, t => t.Tensor.ToArray<float>());

    [Fact]
    public void RhoZero_TrainsExactlyAsPlainLora_OverSeveralTrainerSteps()
    {
        var mgpo = Peft.Apply(TinyGpt(), GptConfig(0));
        var lora = Peft.Apply(TinyGpt(), GptConfig(0).AsLoraConfig());
        Assert.Equal(Train(lora), Train(mgpo));
        var expected = Trained(lora);
        var actual = Trained(mgpo);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (key, value) in expected) Assert.Equal(value, actual[key]);
    }

    [Fact]
    public void PositiveRho_ChangesTheTrajectory_RestoresW0_AndTheEvaluationModelAndFileArePlainLora()
    {
        var mgpo = Peft.Apply(TinyGpt(), GptConfig(0.05));
        var layers = mgpo.AdapterLayers().Select(l => (LoraMgpoLayer)l.Layer).ToList();
        var w0 = layers.Select(l => l.BaseLayer.Weight.ToArray<float>()).ToList();
        bool perturbedInside = false;
        Train(mgpo, during: step =>
        {
            // From the second step on (Adam's moments exist) every layer's W0 carries its perturbation during the forward.
            if (step == 0) Assert.DoesNotContain(layers, l => l.Perturbed);
            else
            {
                Assert.All(layers, l => Assert.True(l.Perturbed));
                perturbedInside |= !layers[0].BaseLayer.Weight.ToArray<float>().SequenceEqual(w0[0]);
            }
        });
        Assert.True(perturbedInside, "W0 was never perturbed during a step");
        // After training every base weight is W0 again, bit for bit, and ĝ is set.
        for (int i = 0; i < layers.Count; i++) Assert.Equal(w0[i], layers[i].BaseLayer.Weight.ToArray<float>());
        Assert.All(layers, l => Assert.True(l.GradientEma("default") > 0));

        // The trajectory differs from plain LoRA's.
        var lora = Peft.Apply(TinyGpt(), GptConfig(0.05).AsLoraConfig());
        Train(lora);
        var plain = Trained(lora);
        var trained = Trained(mgpo);
        double moved = plain.Max(kv => kv.Value.Zip(trained[kv.Key], (x, y) => Math.Abs(x - y)).Max());
        Assert.True(moved > 1e-4, $"MGPO's trained tensors are within {moved:E2} of plain LoRA's");

        // The evaluation-time model is LoRA with MGPO's A and B, bit for bit.
        mgpo.Eval();
        var evaluation = Peft.Apply(TinyGpt(), GptConfig(0.05).AsLoraConfig());
        using (Autograd.Autograd.NoGrad())
            foreach (var t in evaluation.NamedAdapterTensors("default"))
                t.Tensor.CopyFrom(Tensor.FromArray(trained[t.Key], t.Tensor.Shape));
        Assert.Equal(evaluation.Forward(Ids()).ToArray<float>(), mgpo.Forward(Ids()).ToArray<float>());
        AssertMergeRoundTrips(mgpo, Ids());

        // The file is LoRA's file plus ĝ; loading it back gives the same evaluation model.
        string mgpoFolder = TempFolder(), loraFolder = TempFolder();
        try
        {
            mgpo.SavePretrained(mgpoFolder);
            evaluation.SavePretrained(loraFolder);
            var saved = Safetensors.Load(Path.Combine(mgpoFolder, AdapterFiles.WeightsFileName));
            var loraSaved = Safetensors.Load(Path.Combine(loraFolder, AdapterFiles.WeightsFileName));
            Assert.Equal(loraSaved.Keys.Order(), saved.Keys.Where(k => !k.EndsWith("." + LoraMgpoLayer.GradEmaKey, StringComparison.Ordinal)).Order());
            foreach (var (key, t) in loraSaved) Assert.Equal(t.ToArray<float>(), saved[key].ToArray<float>());
            Assert.Equal(layers.Count, saved.Keys.Count(k => k.EndsWith("." + LoraMgpoLayer.GradEmaKey, StringComparison.Ordinal)));
            var reloaded = Peft.FromPretrained(TinyGpt(), mgpoFolder);
            Assert.Equal(0.05, ((LoraMgpoConfig)reloaded.PeftConfigs["default"]).Rho);
            Assert.Equal(layers[0].GradientEma("default"), ((LoraMgpoLayer)reloaded.AdapterLayers().First().Layer).GradientEma("default"));
            Assert.Equal(evaluation.Forward(Ids()).ToArray<float>(), reloaded.Forward(Ids()).ToArray<float>());
        }
        finally
        {
            Directory.Delete(mgpoFolder, recursive: true);
            Directory.Delete(loraFolder, recursive: true);
        }
    }

    [Fact]
    public void HandWrittenLoopWithoutAnOptimiser_DoesNotPerturb()
    {
        var mgpo = Peft.Apply(TinyGpt(), GptConfig(0.05));
        var layer = (LoraMgpoLayer)mgpo.AdapterLayers().First().Layer;
        mgpo.BeforeForward(0);
        Assert.False(layer.Perturbed);
    }
}
