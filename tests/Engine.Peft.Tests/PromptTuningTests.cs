using Engine.Nn.Checkpoints;
using Engine.Peft.Prompt;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>Prompt tuning: virtual token embeddings before the input, gradients, generation, files.</summary>
public class PromptTuningTests
{
    [Fact]
    public void TextInitialisedPrompt_GivesTheLogitsOfThoseTokensPrepended()
    {
        var peft = Peft.Apply(TinyGpt(), new PromptTuningConfig { NumVirtualTokens = 5, PromptTuningInit = "TEXT", InitTokenIds = [7, 2, 11] });
        var ids = Tensor.FromArray(new long[,] { { 1, 5, 2, 9 }, { 0, 3, 3, 12 } });
        // Virtual tokens = embeddings of 7 2 11 7 2 (repeated to 5): the base model on the concatenation, real positions only.
        var text = Tensor.FromArray(new long[,] { { 7, 2, 11, 7, 2 }, { 7, 2, 11, 7, 2 } });
        var expected = TinyGpt().Forward(Tensor.Concat([text, ids], 1)).Narrow(1, 5, 4);
        AssertClose(expected, peft.Forward(ids), 1e-5);
    }

    [Fact]
    public void DeletingAPromptAdapter_RemovesItsEmbeddingsAndRestoresTheBaseOutput()
    {
        var peft = Peft.Apply(TinyGpt(), new PromptTuningConfig { NumVirtualTokens = 2, Seed = 1 });
        peft.AddAdapter("lora", new Engine.Peft.LowRank.LoraConfig { TargetModules = ["qkv"] });
        peft.DeleteAdapter("default");
        Assert.DoesNotContain("default", peft.ModelParts.Keys);
        Assert.DoesNotContain(peft.StateDict().Keys, k => k.Contains("weight") && k.StartsWith("adapter_parts."));
        Assert.Equal(["lora"], peft.ActiveAdapters);
        // LoRA's default init (B = 0) leaves the base output.
        AssertClose(TinyGpt().Forward(Ids()), peft.Forward(Ids()), 1e-6);
    }

    [Fact]
    public void RandomPrompt_GradientsMatchFiniteDifferences()
    {
        var peft = Peft.Apply(TinyGpt(), new PromptTuningConfig { NumVirtualTokens = 2, Seed = 3 });
        peft.To(DType.Float64);
        Assert.All(peft.Model.Parameters(), p => Assert.False(p.RequiresGrad));
        var ids = Tensor.FromArray(new long[,] { { 1, 5 }, { 4, 0 } });
        AssertParameterGradients(peft.ModelParts["default"], () => peft.Forward(ids));
    }

    [Fact]
    public void Generation_WithThePromptCacheMatchesUncachedGreedyDecoding()
    {
        var peft = Peft.Apply(TinyGpt(), new PromptTuningConfig { NumVirtualTokens = 3, Seed = 4 });
        TestSupport.AssertCachedGreedyGenerationMatchesUncached(peft);
    }

    [Fact]
    public void PromptTraining_LeavesBaseBitIdenticalAndSaveLoadGivesIdenticalOutputs()
    {
        var gpt = TinyGpt();
        var before = gpt.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());
        var peft = Peft.Apply(gpt, new PromptTuningConfig { NumVirtualTokens = 4, Seed = 5 });
        Assert.Equal(4 * 8, peft.PrintTrainableParameters(TextWriter.Null).Trainable);
        var opt = new AdamW(peft.TrainableParameters(), lr: 1e-2);
        var p0 = ((PromptTuning)peft.ModelPart("default")!).Embeddings.ToArray<float>();
        for (int step = 0; step < 3; step++)
        {
            Losses.CrossEntropy(peft.Forward(Ids()).Reshape(-1, 13), Ids().Roll(-1, 1).Reshape(-1)).Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        foreach (var (name, p) in gpt.NamedParameters()) Assert.Equal(before[name], p.ToArray<float>());
        Assert.NotEqual(p0, ((PromptTuning)peft.ModelPart("default")!).Embeddings.ToArray<float>());

        var x = Ids();
        var expected = peft.Forward(x).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var tensors = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            Assert.Equal(["prompt_embeddings"], tensors.Keys);
            Assert.Equal([4, 8], tensors["prompt_embeddings"].Shape);
            Assert.Equal(expected, Peft.FromPretrained(TinyGpt(), folder).Forward(x).ToDoubleArray());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
