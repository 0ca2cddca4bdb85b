using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using System.Text.Json.Nodes;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// LoRA-MGPO against plain PyTorch (tests/golden/make_gpt2_lowrank_mgpo_golden.py, folder gpt2-tiny-loramgpo): the
/// folder loads and evaluates as plain LoRA, with PyTorch's gradients and AdamW step; and three MGPO training steps with
/// Adam from the folder's state (its ĝ resumed) give PyTorch's trained A, B and ĝ after each step, for the momentum
/// direction (the reference's) and the gradient direction (the engine's reading of GGPO), while plain LoRA's trajectory
/// from the same start is far from them (so the check can fail).
/// </summary>
public class LoraMgpoGoldenTests(ITestOutputHelper output)
{
    const string Fixture = "gpt2-tiny-loramgpo";
    const int Steps = 3;

    [Fact]
    public void LoadsAndGivesPyTorchLogits() => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(Fixture, 6);

    [Fact]
    public void GradientsAndOneAdamWStepMatchPyTorch() => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(Fixture, output);

    [Theory]
    [InlineData("momentum", "")]
    [InlineData("gradient", "gradient.")]
    public void ThreeMgpoStepsWithAdam_GivePyTorchsTrajectory(string direction, string prefix)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", Fixture);
        var trajectory = Safetensors.Load(Path.Combine(folder, "trajectory.safetensors"));
        var batches = Enumerable.Range(0, Steps).Select(k => trajectory[$"step{k}.input_ids"]).ToList();

        var (peft, losses) = Train(WithDirection(folder, direction, rho: null), batches);
        var tensors = peft.NamedAdapterTensors("default").ToDictionary(t => t.Key, t => t.Tensor);
        double worst = 0;
        for (int k = 0; k < Steps; k++)
            AssertClose(trajectory[$"{prefix}step{k}.loss"].Item(), losses[k], 1e-5, $"{direction} loss of step {k}");
        // The tensors after the last step (the intermediate ones are checked through the losses of the next steps).
        foreach (var (key, t) in tensors)
        {
            double error = PeftGoldenCheck.RelativeError(trajectory[$"{prefix}after{Steps - 1}.{key}"], t);
            worst = Math.Max(worst, error);
            Assert.True(error < 1e-4, $"{direction}: {key} after {Steps} steps differs from PyTorch's by {error:E2} of its largest magnitude");
        }

        // Plain LoRA (rho = 0) from the same start ends far from the MGPO trajectory.
        var (plain, _) = Train(WithDirection(folder, direction, rho: 0), batches);
        double moved = plain.NamedAdapterTensors("default").Where(t => t.Trainable)
            .Max(t => PeftGoldenCheck.RelativeError(trajectory[$"{prefix}after{Steps - 1}.{t.Key}"], t.Tensor));
        output.WriteLine($"{direction}: worst error {worst:E2}; plain LoRA's tensors differ by {moved:E2}");
        Assert.True(moved > 100 * Math.Max(worst, 1e-6), $"{direction}: plain LoRA's trajectory is within {moved:E2} of MGPO's: the check could not fail");
    }

    // A copy of the folder with mgpo_direction (and rho, when given) rewritten.
    static string WithDirection(string folder, string direction, double? rho)
    {
        var copy = TempFolder();
        foreach (var file in Directory.GetFiles(folder)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        var configPath = Path.Combine(copy, AdapterFiles.ConfigFileName);
        var json = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        json["mgpo_direction"] = direction;
        if (rho is { } r) json["rho"] = r;
        File.WriteAllText(configPath, json.ToJsonString());
        return copy;
    }

    static (PeftModel Peft, List<double> Losses) Train(string folder, List<Tensor> batches)
    {
        try
        {
            var peft = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder, trainable: true);
            var adam = new Adam(peft.TrainableParameters(), lr: 1e-2);
            var losses = new List<double>();
            LoraMgpoTraining.Run(peft, adam, Steps, step =>
            {
                var loss = PeftGoldenCheck.NextTokenLoss(peft.Forward(batches[step]), batches[step]);
                losses.Add(loss.Item());
                return loss;
            });
            return (peft, losses);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}

/// <summary>The training loop of the MGPO tests: the engine's <see cref="Trainer"/>, which calls the phase hooks.</summary>
static class LoraMgpoTraining
{
    public static void Run(PeftModel peft, Optimizer optimizer, int steps, Func<int, Tensor> loss) =>
        new Trainer(peft, optimizer, new TrainerOptions(steps)).Run(loss);
}
