using Engine.Nn.Checkpoints;
using Engine.Peft.Prompt;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>Prefix tuning: virtual keys/values in the KV cache, gradients, generation, files.</summary>
public class PrefixTuningTests
{
    static PrefixTuningConfig Config(bool projection = false) => new() { NumVirtualTokens = 3, PrefixProjection = projection, EncoderHiddenSize = 5, Seed = 2 };

    [Fact]
    public void Prefix_OfRealTokensKeysAndValues_GivesTheLogitsOfThoseTokensPrepended()
    {
        // Independent check: fill the prefix with the keys/values the base model computes for 3 real tokens; the
        // adapted model on ids must then give the base model's logits for (those tokens + ids) at the ids' positions.
        var base_ = TinyGpt();
        var prefixIds = Tensor.FromArray(new long[,] { { 7, 2, 11 } });
        var ids = Tensor.FromArray(new long[,] { { 1, 5, 2, 9 } });
        var cache = new KvCache(2);
        base_.Forward(prefixIds, cache);
        var expected = base_.Forward(Tensor.Concat([prefixIds, ids], 1)).Narrow(1, 3, 4);

        var peft = Peft.Apply(TinyGpt(), Config());
        var table = new Tensor[2 * 2];
        for (int l = 0; l < 2; l++)
        {
            // [1, H, n, D] → [n, H * D], keys then values per layer.
            table[2 * l] = ((LayerKvCache)cache[l]).Keys!.Squeeze(0).Transpose(0, 1).Reshape(3, 8);
            table[2 * l + 1] = ((LayerKvCache)cache[l]).Values!.Squeeze(0).Transpose(0, 1).Reshape(3, 8);
        }
        using (Autograd.Autograd.NoGrad()) ((PrefixTuning)peft.ModelPart("default")!).Embedding.CopyFrom(Tensor.Concat(table, 1));
        AssertClose(expected, peft.Forward(ids), 1e-5);
    }

    [Fact]
    public void PrefixEncoder_GradientsMatchFiniteDifferences()
    {
        var peft = Peft.Apply(TinyGpt(), Config(projection: true));
        peft.To(DType.Float64);
        var encoder = ((PrefixTuning)peft.ModelPart("default")!);
        Assert.All(peft.Model.Parameters(), p => Assert.False(p.RequiresGrad));
        var ids = Tensor.FromArray(new long[,] { { 1, 5 }, { 4, 0 } });
        AssertParameterGradients(encoder, () => peft.Forward(ids));
    }

    [Fact]
    public void Generation_WithThePrefixCacheMatchesUncachedGreedyDecoding()
    {
        var peft = Peft.Apply(TinyGpt(), Config());
        var gpt = peft.Model;
        var prompt = Tensor.FromArray(new long[,] { { 3, 8 }, { 12, 1 } });
        var generated = Sampling.Generate(gpt, prompt, 4, new SamplingOptions(Greedy: true), cache: peft.ActiveInputAdapter!.CreateCache(peft, 2));
        var tokens = prompt;
        using (Autograd.Autograd.NoGrad())
            for (int step = 0; step < 4; step++)
            {
                var next = peft.Forward(tokens).Select(1, -1).ArgMax(-1).Reshape(2, 1);
                tokens = Tensor.Concat([tokens, next], 1);
            }
        Assert.Equal(tokens.ToArray<long>(), generated.ToArray<long>());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PrefixTraining_LeavesBaseBitIdenticalAndSaveLoadGivesIdenticalOutputs(bool projection)
    {
        var gpt = TinyGpt();
        var before = gpt.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());
        var peft = Peft.Apply(gpt, Config(projection));
        int expectedTrainable = projection ? 3 * 8 + (8 * 5 + 5) + (5 * 32 + 32) : 3 * 32;
        Assert.Equal(expectedTrainable, peft.PrintTrainableParameters(TextWriter.Null).Trainable);
        var opt = new AdamW(peft.TrainableParameters(), lr: 1e-2);
        for (int step = 0; step < 3; step++)
        {
            Losses.CrossEntropy(peft.Forward(Ids()).Reshape(-1, 13), Ids().Roll(-1, 1).Reshape(-1)).Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        foreach (var (name, p) in gpt.NamedParameters()) Assert.Equal(before[name], p.ToArray<float>());

        var x = Ids();
        var expected = peft.Forward(x).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var tensors = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            Assert.Equal(["prompt_embeddings"], tensors.Keys);
            Assert.Equal([3, 2 * 2 * 8], tensors["prompt_embeddings"].Shape);
            AssertClose(expected, Peft.FromPretrained(TinyGpt(), folder).Forward(x).ToDoubleArray(), 1e-6);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
