using System.Text.Json.Nodes;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// MonteCLoRA's properties (Sengupta et al. 2024, arXiv:2411.04358; PEFT's MontecloraLinearVariant): evaluation is
/// plain LoRA with the mean factors, training forwards average to it (the perturbations have mean zero and the
/// mixture weights sum to one), the regulariser vanishes at its prior, and the sampled forward and the regulariser have
/// exact gradients. The PyTorch comparison is in <see cref="MontecloraGoldenTests"/>.
/// </summary>
public class MontecloraTests
{
    const int In = 6, Out = 5, R = 3, N = 4;

    static LoraConfig Config(MontecloraConfig? mc = null) =>
        new() { R = R, LoraAlpha = 6, InitLoraWeights = LoraInit.Random, MontecloraConfig = mc ?? new() { NumSamples = N, SampleScaler = 0.5, UseEntropy = true }, Seed = 7 };

    static LoraLayer Layer(LoraConfig config) => StandaloneLayer(l => new LoraLayer(l), In, Out, config);

    static MontecloraSampler Sampler(LoraLayer layer) => MontecloraVariant.Sampler(layer, "a");

    static void Set(Tensor t, params double[] values)
    {
        using (Autograd.Autograd.NoGrad()) t.CopyFrom(Tensor.FromArray(values, t.Shape).To(t.DType));
    }

    [Fact]
    public void Evaluation_IsPlainLoraWithTheSameFactors_BitForBit()
    {
        var monte = Layer(Config());
        var plain = Layer(Config() with { MontecloraConfig = null });
        plain.SetFactors("a", monte.LoraA("a"), monte.LoraB("a"));
        Scramble(Sampler(monte).StdPrior, 1);
        var x = Randn64(2, 3, 4, In);
        Assert.Equal(plain.Forward(x).ToDoubleArray(), monte.Forward(x).ToDoubleArray());
        // The merged weight is plain LoRA's too (PEFT merges B A, ignoring the sampler).
        Assert.Equal(plain.DeltaWeight("a").ToDoubleArray(), monte.DeltaWeight("a").ToDoubleArray());
    }

    [Fact]
    public void TrainingForwards_AreStochasticAndAverageToTheEvaluationOutput()
    {
        var layer = Layer(Config());
        Scramble(Sampler(layer).StdPrior, 3, 0.3);
        Scramble(Sampler(layer).ExpertWeightsPrior, 4, 0.5);
        var x = Randn64(5, 4, In);
        var expected = layer.Forward(x).ToDoubleArray();
        layer.Train();
        const int samples = 3000;
        var sum = new double[expected.Length];
        var squares = new double[expected.Length];
        using (Autograd.Autograd.NoGrad())
            for (int k = 0; k < samples; k++)
            {
                var y = layer.Forward(x).ToDoubleArray();
                for (int i = 0; i < y.Length; i++) { sum[i] += y[i]; squares[i] += y[i] * y[i]; }
            }
        for (int i = 0; i < expected.Length; i++)
        {
            double mean = sum[i] / samples, variance = (squares[i] - samples * mean * mean) / (samples - 1);
            double standardError = Math.Sqrt(variance / samples);
            Assert.True(Math.Sqrt(variance) > 1e-2, $"output {i}: the training forward barely varies (sd {Math.Sqrt(variance):E2})");
            // E[Σ w_n (A + ε_n)] = A: ε_n has mean zero given the covariance and is independent of w, and Σ w_n = 1.
            Assert.True(Math.Abs(mean - expected[i]) <= 5 * standardError,
                $"output {i}: mean of {samples} training forwards {mean:G8}, evaluation {expected[i]:G8}, 5 standard errors {5 * standardError:E2}");
        }
    }

    // Fixed draws in Float64, away from the clamps.
    static MontecloraNoise FixedNoise() =>
        new(Randn64(21, N, In, R), Tensor.FromArray(new[] { 1.5, 0.7, 2.2 }), Randn64(22, N));

    [Fact]
    public void SampledForwardAndRegulariser_HaveExactGradients()
    {
        var layer = Layer(Config());
        var variant = (MontecloraVariant)layer.Settings("a").Variant!;
        variant.NoiseSource = FixedNoise;
        Scramble(Sampler(layer).StdPrior, 3, 0.3);
        Scramble(Sampler(layer).ExpertWeightsPrior, 4, 0.5);
        layer.Train();
        var x = Randn64(5, 4, In);
        var parameters = layer.NamedParameters().Where(p => !p.Name.StartsWith("base_layer", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, parameters.Count);
        // The outputs and the regulariser (KL₃ and the entropy read the sample just drawn) in one vector.
        var result = GradCheck.CheckParameters(
            () => Tensor.Concat([layer.Forward(x).Reshape(-1), Sampler(layer).VariationalLoss()!.Reshape(1)], 0), parameters,
            options: new GradCheckOptions(Eps: 1e-6, Atol: 1e-7, Rtol: 1e-5, Seed: 9));
        Assert.True(result.Passed, result.Message);
    }

    [Fact]
    public void Regulariser_IsZeroAtItsPrior_AndItsGaussianTermsArePositiveElsewhere()
    {
        var mc = new MontecloraConfig { NumSamples = N, DirichletPrior = 0.1, KlLossWeight = 0.01 };
        var layer = Layer(Config(mc));
        var sampler = Sampler(layer);
        // α = e^e = the prior, s = 0 (unit scale), and the initial buffers Σ = I: every KL term is zero.
        Set(sampler.ExpertWeightsPrior, Enumerable.Repeat(Math.Log(0.1), N).ToArray());
        Set(sampler.StdPrior, 0, 0, 0);
        Assert.Null(sampler.VariationalLoss());
        layer.Train();
        var atPrior = sampler.VariationalLoss()!;
        Assert.True(Math.Abs(atPrior.Item()) < 1e-12, $"regulariser at the prior: {atPrior.Item():E3}");
        atPrior.Backward();
        // KL₂'s gradient vanishes at s = 0; PEFT's Dirichlet term adds Σ log Γ(α_i) (the textbook KL subtracts it), so its
        // gradient at α = β is 2 ψ(β) per α_i, not zero: d/de_i = 0.01 · β · 2 ψ(β), with ψ(0.1) = -10.4237549404110768.
        Assert.All(sampler.StdPrior.Grad!.ToDoubleArray(), g => Assert.True(Math.Abs(g) < 1e-12));
        Assert.All(sampler.ExpertWeightsPrior.Grad!.ToDoubleArray(), g => AssertClose(0.01 * 0.1 * 2 * -10.4237549404110768, g, 1e-10));

        // Away from s = 0 and Σ = I, KL₂ = r/2 Σ (e^{2s} - 2s - 1) and KL₃ = N/2 Σ (σ - log σ - 1) are positive.
        Set(sampler.StdPrior, 0.3, -0.2, 0.1);
        double kl2 = R / 2.0 * new[] { 0.3, -0.2, 0.1 }.Sum(s => Math.Exp(2 * s) - 2 * s - 1);
        AssertClose(0.01 * kl2, sampler.VariationalLoss()!.Item(), 1e-10, "KL2");
        layer.Forward(Randn64(5, 2, In));
        var sigma = sampler.GaussianVarPrior.ToDoubleArray().Where((_, i) => i % (R + 1) == 0).ToArray();
        double kl3 = N / 2.0 * sigma.Sum(v => v - Math.Log(v) - 1);
        Assert.True(kl3 > 0);
        AssertClose(0.01 * (kl2 + kl3), sampler.VariationalLoss()!.Item(), 1e-10, "KL2 + KL3 after a sample");
    }

    [Fact]
    public void GammaFunctions_MatchKnownValuesRecurrencesAndDerivatives()
    {
        const double euler = 0.57721566490153286;
        AssertClose(0.5 * Math.Log(Math.PI), GammaFunctions.LogGamma(0.5), 1e-14);
        AssertClose(Math.Log(362880), GammaFunctions.LogGamma(10), 1e-14);
        AssertClose(-euler, GammaFunctions.Digamma(1), 1e-14);
        AssertClose(-euler - 2 * Math.Log(2), GammaFunctions.Digamma(0.5), 1e-14);
        AssertClose(Math.PI * Math.PI / 6, GammaFunctions.Trigamma(1), 1e-14);
        AssertClose(Math.PI * Math.PI / 2, GammaFunctions.Trigamma(0.5), 1e-14);
        foreach (var x in new[] { 0.01, 0.3, 0.49, 0.51, 0.9, 3.7, 9.5, 25, 180 })
        {
            AssertClose(Math.Log(x), GammaFunctions.LogGamma(x + 1) - GammaFunctions.LogGamma(x), 1e-12, $"log Γ recurrence at {x}");
            AssertClose(1 / x, GammaFunctions.Digamma(x + 1) - GammaFunctions.Digamma(x), 1e-12, $"ψ recurrence at {x}");
            AssertClose(1 / (x * x), GammaFunctions.Trigamma(x) - GammaFunctions.Trigamma(x + 1), 1e-11, $"ψ' recurrence at {x}");
            double h = 1e-5 * x;
            AssertClose((GammaFunctions.LogGamma(x + h) - GammaFunctions.LogGamma(x - h)) / (2 * h), GammaFunctions.Digamma(x), 1e-7, $"ψ = d log Γ at {x}");
            AssertClose((GammaFunctions.Digamma(x + h) - GammaFunctions.Digamma(x - h)) / (2 * h), GammaFunctions.Trigamma(x), 1e-6, $"ψ' = d ψ at {x}");
        }
    }

    [Fact]
    public void Config_ReadsPeftsFieldsAndRefusesWhatPeftRefuses()
    {
        var json = PeftConfigJson.ToJson(Config());
        var fields = json["monteclora_config"]!.AsObject().Select(kv => kv.Key).Order().ToList();
        Assert.Equal(["buffer_size", "dirichlet_prior", "kl_loss_weight", "num_samples", "sample_scaler", "use_entropy"], fields);
        Assert.Equal(Config().MontecloraConfig, ((LoraConfig)PeftConfigJson.FromJson(json)).MontecloraConfig);
        json["monteclora_config"] = JsonNode.Parse("{}");
        Assert.Equal(new MontecloraConfig(), ((LoraConfig)PeftConfigJson.FromJson(json)).MontecloraConfig);

        foreach (var (field, value) in new[] { ("num_samples", "0"), ("dirichlet_prior", "0"), ("buffer_size", "0") })
        {
            json["monteclora_config"] = JsonNode.Parse($"{{\"{field}\": {value}}}");
            var e = Assert.Throws<InvalidDataException>(() => PeftConfigJson.FromJson(json));
            Assert.Contains(field, e.Message);
        }
        var combined = Assert.Throws<NotSupportedException>(() => (Config() with { UseDora = true }).Validate());
        Assert.Contains("monteclora_config", combined.Message);
    }

    [Fact]
    public void PeftModel_AddsTheMeanOfTheLayersRegularisers_OnlyWhileTraining()
    {
        var peft = Peft.Apply(Laws.LawCases.Base(), new LoraConfig { R = 2, TargetModules = ["qkv", "mlp.fc"], MontecloraConfig = new() });
        Assert.Null(peft.RegularizationLoss());
        peft.Train();
        var term = peft.RegularizationLoss();
        Assert.NotNull(term);
        var layers = peft.AdapterLayers().Select(l => MontecloraVariant.Sampler((LoraLayer)l.Layer, "default").VariationalLoss()!.Item()).ToList();
        Assert.Equal(4, layers.Count);
        AssertClose(layers.Average(), term.Item(), 1e-6);
        var plain = Peft.Apply(Laws.LawCases.Base(), new LoraConfig { R = 2, TargetModules = ["qkv"] });
        plain.Train();
        Assert.Null(plain.RegularizationLoss());
    }
}
