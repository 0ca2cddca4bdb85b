using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests;

/// <summary>A tampered training checkpoint fails with InvalidDataException naming the file and the field, and changes nothing.</summary>
public sealed class TrainingCheckpointTamperingTests : IDisposable
{
    static readonly GptConfig Config = new(VocabSize: 11, ContextLength: 8, DModel: 16, Layers: 1, Heads: 2, Dropout: 0);
    readonly string _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"engine-ckpt-{Guid.NewGuid():N}")).FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    // A checkpoint after one AdamW step (so the optimiser has state), rewritten through `tamper`.
    string Checkpoint(Action<Dictionary<string, Tensor>, Dictionary<string, string>> tamper)
    {
        var model = new Gpt(Config, new Generator(1));
        var optimizer = new AdamW(model.Parameters(), 1e-2);
        var ids = Tensor.Randint(0, Config.VocabSize, [2, Config.ContextLength], generator: new Generator(2));
        Autograd.Autograd.Backward(Losses.CrossEntropy(model.Forward(ids), ids));
        optimizer.Step();
        string original = Path.Combine(_folder, "original.safetensors"), tampered = Path.Combine(_folder, "tampered.safetensors");
        TrainingCheckpoint.Save(original, model, optimizer, 1, new Dictionary<string, Generator> { ["data"] = new Generator(3) });
        Dictionary<string, Tensor> tensors;
        Dictionary<string, string> metadata;
        using (var file = Safetensors.Open(original))
        {
            tensors = file.Names.ToDictionary(n => n, file.Read);
            metadata = new Dictionary<string, string>(file.Metadata);
        }
        tamper(tensors, metadata);
        Safetensors.Save(tampered, tensors, metadata);
        return tampered;
    }

    [Theory]
    [InlineData("1")]
    [InlineData("-1,2")]
    [InlineData("x,y")]
    [InlineData("1,2,3")]
    [InlineData("99999999999999999999999,1")]
    public void Restore_WithAMalformedGeneratorState_NamesFileAndField_AndLeavesTheGeneratorAlone(string state)
    {
        var path = Checkpoint((_, metadata) => metadata["generator.data"] = state);
        var data = new Generator(42);
        var e = Assert.Throws<InvalidDataException>(() =>
            TrainingCheckpoint.Restore(path, new Gpt(Config, new Generator(5)), null, new Dictionary<string, Generator> { ["data"] = data }));
        Assert.Contains(path, e.Message);
        Assert.Contains("'generator.data'", e.Message);
        Assert.Equal(42UL, data.Seed);
    }

    [Fact]
    public void Restore_WithOptimizerStateOfTheRightCountButWrongShape_IsRefused()
    {
        var path = Checkpoint((tensors, _) =>
        {
            var key = tensors.Keys.First(k => k.StartsWith("optim.") && k.EndsWith(".exp_avg") && tensors[k].Rank == 2);
            tensors[key] = tensors[key].Transpose(0, 1).Contiguous(); // same elements, transposed shape
        });
        var model = new Gpt(Config, new Generator(5));
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Restore(path, model, new AdamW(model.Parameters(), 1e-2)));
        Assert.Contains(path, e.Message);
        Assert.Contains(".exp_avg' is a float32 tensor of shape", e.Message);
    }
}
