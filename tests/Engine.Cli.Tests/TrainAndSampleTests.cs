using Engine.Nn;
using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Cli.Tests;

[Collection(ConsoleCollection.Name)]
public sealed class TrainAndSampleTests
{
    [Fact]
    public void Train_WritesACheckpointThatSampleLogitsAndInspectRead()
    {
        var checkpoint = Path.Combine(CliRun.TempFolder(), "names.safetensors");

        var train = CliRun.Invoke("train", "--steps", "3", "--eval-every", "3", "--samples", "2", "--out", checkpoint,
            "--width", "16", "--layers", "1", "--heads", "2", "--context", "8", "--batch", "4");
        Assert.True(train.ExitCode == 0, train.Error);
        Assert.True(File.Exists(checkpoint));
        Assert.Contains("step 3: validation loss", train.Out);

        var sample = CliRun.Invoke("sample", "--checkpoint", checkpoint, "--count", "3");
        Assert.True(sample.ExitCode == 0, sample.Error);
        // One line per name; a name may be empty, so count line ends rather than non-empty lines.
        Assert.Equal(3, sample.Out.Count(c => c == '\n'));

        // Expected values from the checkpoint itself, read through the library rather than the command.
        var model = new Gpt(new GptConfig(VocabSize: Safetensors.Open(checkpoint).Info("model.tok.weight").Shape[0], ContextLength: 8, DModel: 16, Layers: 1, Heads: 2));
        TrainingCheckpoint.Restore(checkpoint, model);
        var inspect = CliRun.Invoke("inspect", checkpoint);
        Assert.True(inspect.ExitCode == 0, inspect.Error);
        Assert.Contains("training checkpoint", inspect.Out);
        Assert.Contains("step: 3", inspect.Out);
        Assert.Contains("\"DModel\":16", inspect.Out);
        Assert.Contains($"model parameters: {model.ParameterCount():N0} in {model.StateDict().Count} tensors", inspect.Out);
        foreach (var (name, p) in model.NamedParameters())
            Assert.Matches($@"(?m)^model\.{System.Text.RegularExpressions.Regex.Escape(name)}\s+F32\s+\[{string.Join(", ", p.Shape)}\]\s+{p.Numel:N0}\s*$", inspect.Out);

        var logitsPath = Path.Combine(Path.GetDirectoryName(checkpoint)!, "logits.safetensors");
        var logits = CliRun.Invoke("logits", "--model", checkpoint, "--ids", "0,1,2", "--out", logitsPath);
        Assert.True(logits.ExitCode == 0, logits.Error);
        Tensor expected;
        using (Autograd.Autograd.NoGrad()) { model.Eval(); expected = model.Forward(Tensor.FromArray(new long[] { 0, 1, 2 }, [1, 3])); }
        var actual = Safetensors.Load(logitsPath)["logits"].ToArray<float>();
        Assert.Equal(expected.Numel, actual.Length);
        var want = expected.ToArray<float>();
        for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(actual[i] - want[i]) <= 1e-5, $"logit {i}: {actual[i]} vs {want[i]}");
    }
}
