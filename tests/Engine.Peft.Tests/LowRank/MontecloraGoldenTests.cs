using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// MonteCLoRA in PEFT's layout on the Hugging Face GPT-2 fixture (tests/golden/make_gpt2_monteclora_golden.py, PEFT's
/// lora/monteclora.py math in plain PyTorch). The engine cannot reproduce torch's random streams, so the training
/// checks replay the script's draws through <see cref="MontecloraVariant.NoiseSource"/>: evaluation logits, the
/// training forward with those draws, the regulariser and every trained tensor's gradient, the buffers the sample
/// leaves, and the logits after one AdamW step; and the regulariser of the file as loaded (before any forward).
/// </summary>
public class MontecloraGoldenTests(ITestOutputHelper output)
{
    const string Fixture = "gpt2-tiny-monteclora";

    static string Folder => Path.Combine(AppContext.BaseDirectory, "golden", Fixture);

    static Dictionary<string, Tensor> Golden() => Safetensors.Load(Path.Combine(Folder, "golden.safetensors"));

    [Fact]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchEvaluationLogits() => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(Fixture, 4);

    // Each layer's variant replays the script's draws for that layer (only the Wishart draw's diagonal enters).
    static void ReplayNoise(PeftModel peft, Dictionary<string, Tensor> golden)
    {
        foreach (var (path, adapterLayer) in peft.AdapterLayers())
        {
            var layer = (LoraLayer)adapterLayer;
            string key = "noise." + AdapterFiles.KeyPrefix + peft.PathOf(path).External;
            var wishart = golden[key + ".wishart"];
            var diagonal = (wishart * Tensor.Eye(wishart.Size(0))).Sum(1);
            var noise = new MontecloraNoise(golden[key + ".mvn"], diagonal, golden[key + ".dirichlet"]);
            ((MontecloraVariant)layer.Settings("default").Variant!).NoiseSource = () => noise;
        }
    }

    [Fact]
    public void TrainingForward_WithPyTorchsDraws_GivesItsLogitsRegulariserGradientsBuffersAndAdamWStep()
    {
        var golden = Golden();
        var peft = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), Folder, trainable: true);
        ReplayNoise(peft, golden);
        var ids = golden["input_ids"];
        peft.Train();
        var logits = peft.Forward(ids);
        AssertClose(golden["train_logits"], logits, 2e-5, "training logits");
        var regulariser = peft.RegularizationLoss() ?? throw new InvalidOperationException("no MonteCLoRA regulariser in training mode");
        AssertClose(golden["monteclora_loss"].Item(), regulariser.Item(), 1e-5, "regulariser");
        var loss = PeftGoldenCheck.NextTokenLoss(logits, ids) + regulariser;
        AssertClose(golden["train_loss"].Item(), loss.Item(), 1e-5, "loss");
        loss.Backward();

        var tensors = peft.NamedAdapterTensors("default").ToList();
        var trained = tensors.Where(t => t.Tensor.RequiresGrad).ToDictionary(t => t.Key, t => t.Tensor);
        var gradKeys = golden.Keys.Where(k => k.StartsWith("grad.", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(gradKeys, trained.Keys.Select(k => "grad." + k).Order(StringComparer.Ordinal));
        Assert.Contains(gradKeys, k => k.EndsWith("std_prior", StringComparison.Ordinal));
        double worst = 0;
        foreach (var key in gradKeys)
        {
            var t = trained[key["grad.".Length..]];
            Assert.True(t.Grad is not null, $"{key} received no gradient");
            double error = PeftGoldenCheck.RelativeError(golden[key], t.Grad!);
            worst = Math.Max(worst, error);
            Assert.True(error <= 1e-4, $"{key} differs from PyTorch by {error:E2} of its largest magnitude");
        }
        // The buffers hold the sample just drawn, as PEFT's do (and are saved so).
        foreach (var t in tensors.Where(t => !t.Trainable))
            AssertClose(golden["after." + t.Key], t.Tensor, 1e-5, "buffer " + t.Key);

        new AdamW(trained.Values, lr: 1e-2, weightDecay: 0).Step();
        peft.Eval();
        Tensor after;
        using (Autograd.Autograd.NoGrad()) after = peft.Forward(ids);
        double stepError = PeftGoldenCheck.RelativeError(golden["logits_after_step"], after);
        output.WriteLine($"{Fixture}: worst gradient error {worst:E2}, logits after one AdamW step {stepError:E2}");
        Assert.True(stepError <= 5e-4, $"logits after one AdamW step differ from PyTorch by {stepError:E2} of their largest magnitude");
    }

    [Fact]
    public void RegulariserOfTheFileAsLoaded_IsPyTorchsWithItsGradients()
    {
        var golden = Golden();
        var peft = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), Folder, trainable: true);
        // In evaluation mode PEFT's term is 0: no regulariser.
        Assert.Null(peft.RegularizationLoss());
        peft.Train();
        var regulariser = peft.RegularizationLoss()!;
        AssertClose(golden["regularizer_at_load"].Item(), regulariser.Item(), 1e-5, "regulariser at load");
        regulariser.Backward();
        var keys = golden.Keys.Where(k => k.StartsWith("reg_grad.", StringComparison.Ordinal)).ToList();
        Assert.Equal(8, keys.Count);
        var tensors = peft.NamedAdapterTensors("default").ToDictionary(t => t.Key, t => t.Tensor);
        foreach (var key in keys)
        {
            double error = PeftGoldenCheck.RelativeError(golden[key], tensors[key["reg_grad.".Length..]].Grad!);
            Assert.True(error <= 1e-5, $"{key} differs from PyTorch by {error:E2} of its largest magnitude");
        }
    }
}
