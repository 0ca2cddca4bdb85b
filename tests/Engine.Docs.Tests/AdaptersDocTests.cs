using DocExamples;
using Engine.Peft;
using Engine.Peft.Scaling;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Docs.Tests;

/// <summary>docs/adapters.md: LoRA on a GPT-2 folder, and the made-up ScaledBias method.</summary>
public sealed class AdaptersDocTests
{
    [Fact]
    public void TheLoraExampleTrainsSavesAndMergesTheSameFunction()
    {
        using var folder = new ScratchFolder("tests/golden/gpt2-tiny");
        var ((result, x, y, merged), printed) = ConsoleOutput.Capture(AdaptersLora.Run);

        // LoRA r=8 on c_attn [32 -> 96] in 2 layers: A [8, 32] + B [96, 8] per layer.
        Assert.StartsWith($"trainable params: {2 * (8 * 32 + 96 * 8):N0} ||", printed);
        using var _ = Autograd.Autograd.NoGrad();
        var baseModel = Gpt2Checkpoint.Load("tests/golden/gpt2-tiny");
        double before = Losses.CrossEntropy(baseModel.Forward(x), y).Item();
        Assert.True(result.FinalLoss < before - 0.1, $"loss {result.FinalLoss} after 100 steps vs {before} before");

        Assert.True(File.Exists("adapters/names/adapter_config.json"));
        Assert.True(File.Exists("adapters/names/adapter_model.safetensors"));
        // The saved adapter on a fresh base computes what the merged model computes.
        var reloaded = PeftApi.FromPretrained(baseModel, "adapters/names");
        AssertClose(reloaded.Forward(x), merged.Forward(x), 1e-4, "logits");
    }

    [Fact]
    public void ScaledBiasStartsAtTheBaseAddsScaleTimesBetaAndMerges()
    {
        var gpt = new Gpt(new GptConfig(VocabSize: 16, ContextLength: 8, DModel: 8, Layers: 1, Heads: 2), new Generator(5));
        var ids = Tensor.FromArray(new long[] { 1, 4, 2, 9, 3 }, [1, 5]);
        using var _ = Autograd.Autograd.NoGrad();
        var baseLogits = gpt.Forward(ids);
        var peft = PeftApi.Apply(gpt, new ScaledBiasConfig { TargetModules = ["qkv"], Scale = 2 });
        AssertClose(baseLogits, peft.Forward(ids), 1e-6, "at the start");

        var (path, layer) = Assert.Single(peft.AdapterLayers());
        var (betaName, beta) = Assert.Single(layer.NamedParameters(), p => p.Item1.Contains("scaled_bias"));
        Assert.Equal("scaled_bias.default", betaName);
        Assert.Equal([24], beta.Shape);
        var values = Enumerable.Range(0, 24).Select(i => 0.1 * (i - 12)).ToArray();
        beta.CopyFrom(Tensor.FromArray(values.Select(v => (float)v).ToArray()));

        // The wrapped projection returns the base output plus 2 * beta in every row.
        var h = Tensor.Randn([3, 8], generator: new Generator(6));
        var expected = layer.BaseLayer.Forward(h).ToDoubleArray().Select((v, i) => v + 2 * values[i % 24]).ToArray();
        AssertClose(expected, layer.Forward(h).ToDoubleArray(), 1e-5, path);

        var adapted = peft.Forward(ids);
        Assert.Contains(adapted.ToDoubleArray().Zip(baseLogits.ToDoubleArray()), p => Math.Abs(p.First - p.Second) > 1e-3);   // beta changed the logits
        var merged = peft.MergeAndUnload();
        AssertClose(adapted, merged.Forward(ids), 1e-5, "merged");
    }
}
