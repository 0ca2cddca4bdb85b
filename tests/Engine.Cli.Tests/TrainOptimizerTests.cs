using Engine.Nn;
using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary>
/// <c>engine train --optimizer</c> (issue 21): a tiny Muon run trains with Muon's defaults and leaves Muon's state
/// (the momentum of the hidden matrices, Adam moments for the rest) in its checkpoint; an unknown name is a one-line
/// error with exit code 2.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class TrainOptimizerTests
{
    static readonly string[] Tiny = ["train", "--steps", "2", "--eval-every", "2", "--samples", "0", "--width", "16", "--layers", "1", "--heads", "2", "--context", "8", "--batch", "4"];

    [Fact]
    public void Muon_TrainsWithItsDefaults_AndCheckpointsItsState()
    {
        var checkpoint = Path.Combine(CliRun.TempFolder(), "names.safetensors");
        var run = CliRun.Invoke([.. Tiny, "--out", checkpoint, "--optimizer", "muon"]);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("optimizer: muon, peak lr 0.016, weight decay 0.1", run.Out);
        Assert.Contains("step 2: validation loss", run.Out);

        var config = System.Text.Json.JsonSerializer.Deserialize<GptConfig>(TrainingCheckpoint.ReadInfo(checkpoint).Values["gpt_config"])!;
        var model = new Gpt(config);
        var optimizer = (Muon)OptimizerPresets.Get("muon").Create(model);
        TrainingCheckpoint.Restore(checkpoint, model, optimizer);
        Assert.Equal(2, optimizer.StepCount);
        var qkv = model.NamedParameters().Single(p => p.Name == "blocks.0.attn.qkv.weight").Parameter;
        Assert.NotNull(optimizer.StateOf(qkv, "momentum"));
        Assert.Null(optimizer.StateOf(qkv, "exp_avg"));
        Assert.NotNull(optimizer.StateOf(model.Tok.Weight, "exp_avg"));
    }

    [Fact]
    public void Sophia_EstimatesItsHessianAtTheTenthStep_AndCheckpointsItAndItsSampler()
    {
        // engine train runs Sophia-G's sampled-label backward through TrainerOptions.HessianSample after every k = 10th step.
        var checkpoint = Path.Combine(CliRun.TempFolder(), "names.safetensors");
        var run = CliRun.Invoke([.. Tiny[..2], "10", .. Tiny[3..4], "10", .. Tiny[5..], "--out", checkpoint, "--optimizer", "sophia"]);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("optimizer: sophia, peak lr 0.001, weight decay 0.1", run.Out);

        var config = System.Text.Json.JsonSerializer.Deserialize<GptConfig>(TrainingCheckpoint.ReadInfo(checkpoint).Values["gpt_config"])!;
        var model = new Gpt(config);
        var optimizer = (SophiaG)OptimizerPresets.Get("sophia").Create(model);
        var sampler = new Generator(12345);
        TrainingCheckpoint.Restore(checkpoint, model, optimizer, new Dictionary<string, Generator> { ["hessian"] = sampler });
        Assert.Equal(10, optimizer.StepCount);
        var qkv = model.NamedParameters().Single(p => p.Name == "blocks.0.attn.qkv.weight").Parameter;
        Assert.NotNull(optimizer.StateOf(qkv, "exp_avg"));
        var hessian = optimizer.StateOf(qkv, "hessian")!;
        Assert.True(hessian.ToDoubleArray().Max() > 0);
        Assert.True(sampler.Offset > 0, "the label sampler's position is saved");
    }

    [Fact]
    public void UnknownOptimizer_IsAOneLineError()
    {
        var result = CliRun.Invoke([.. Tiny, "--out", Path.Combine(CliRun.TempFolder(), "x.safetensors"), "--optimizer", "adagrad"]);
        CliAssert.OneLineUserError(result, "train", "--optimizer");
        Assert.Contains("muon", result.Error);
    }
}
