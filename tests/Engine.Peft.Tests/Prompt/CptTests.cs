using Engine.Nn.Checkpoints;
using Engine.Peft.Prompt;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Prompt;

/// <summary>CPT: the context's embeddings plus a delta kept in its ε-balls, gradients only on types 1–3, files, generation.</summary>
public class CptTests
{
    static Cpt Part(PeftModel peft) => (Cpt)peft.ModelPart("default")!;

    // Types: input template, input, output template, label, a type-0 token, then the next example's input.
    static CptConfig Config(double epsilon = 0.5, double formatEpsilon = 0.3) => new()
    {
        CptTokenIds = [3, 7, 1, 9, 2, 5], CptTokensTypeMask = [1, 2, 3, 4, 0, 6],
        OptProjectionEpsilon = epsilon, OptProjectionFormatEpsilon = formatEpsilon, Seed = 1,
    };

    [Fact]
    public void AtInit_ThePromptIsTheContextTokens()
    {
        var peft = Peft.Apply(TinyGpt(), Config());
        var ids = Tensor.FromArray(new long[,] { { 1, 5, 2 }, { 0, 3, 12 } });
        var context = Tensor.FromArray(new long[,] { { 3, 7, 1, 9, 2, 5 }, { 3, 7, 1, 9, 2, 5 } });
        AssertClose(TinyGpt().Forward(Tensor.Concat([context, ids], 1)).Narrow(1, 6, 3), peft.Forward(ids), 1e-5);
    }

    [Fact]
    public void DeltaRows_StayInTheirEpsilonBalls_AndLabelRowsGetNoGradient()
    {
        var gpt = TinyGpt();
        var peft = Peft.Apply(gpt, Config());
        var part = Part(peft);
        // ε = opt_projection(_format)_epsilon · √(d / 2048) with d = 8; labels and type 0: 1e-10.
        double s = Math.Sqrt(8.0 / 2048);
        AssertClose(new[] { 0.3 * s, 0.5 * s, 0.3 * s, 1e-10, 1e-10, 0.5 * s }, part.Epsilon.ToArray(), 1e-6);
        var opt = new AdamW(peft.TrainableParameters(), lr: 0.1);
        for (int step = 0; step < 4; step++)
        {
            Losses.CrossEntropy(peft.Forward(Ids()).Reshape(-1, 13), Ids().Roll(-1, 1).Reshape(-1)).Backward();
            var grad = part.Delta.Grad!.ToArray<float>();
            for (int row = 0; row < 6; row++)
            {
                var g = grad.Skip(row * 8).Take(8);
                if (row is 3 or 4) Assert.All(g, v => Assert.Equal(0f, v));
                else Assert.Contains(g, v => v != 0);
            }
            opt.Step();
            peft.AfterOptimizerStep(step);
            opt.ZeroGrad();
            var delta = part.Delta.ToArray<float>();
            for (int row = 0; row < 6; row++)
            {
                double norm = Math.Sqrt(delta.Skip(row * 8).Take(8).Sum(v => (double)v * v));
                Assert.True(norm <= part.Epsilon[row] * (1 + 1e-6), $"row {row}: norm {norm} exceeds ε {part.Epsilon[row]} after step {step}");
                // lr 0.1 moves every trainable row far past its ball: the projection put it on the sphere.
                if (row is not (3 or 4)) Assert.True(norm >= part.Epsilon[row] * (1 - 1e-6), $"row {row}: norm {norm} inside ε {part.Epsilon[row]}");
            }
        }
    }

    [Fact]
    public void SavedPrompt_IsContextEmbeddingsPlusDelta_AndReloadsWithAZeroDelta()
    {
        var gpt = TinyGpt();
        var peft = Peft.Apply(gpt, Config());
        var part = Part(peft);
        using (Autograd.Autograd.NoGrad()) part.Delta.CopyFrom(Tensor.Randn([6, 8], 0, 0.01, DType.Float32, new Generator(2)));
        var expected = peft.Forward(Ids()).ToDoubleArray();
        var context = gpt.TokenEmbedding.Weight.IndexSelect(0, Tensor.FromArray(new long[] { 3, 7, 1, 9, 2, 5 }));
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var file = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            Assert.Equal(["prompt_embeddings"], file.Keys);
            Assert.Equal((context + part.Delta).ToArray<float>(), file["prompt_embeddings"].ToArray<float>());
            Assert.Equal(6, AdapterFiles.ReadConfig(folder) is CptConfig c ? c.NumVirtualTokens : null);
            var loaded = Peft.FromPretrained(TinyGpt(), folder, trainable: true);
            Assert.All(Part(loaded).Delta.ToArray<float>(), v => Assert.Equal(0f, v));
            Assert.Equal(expected, loaded.Forward(Ids()).ToDoubleArray());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void CptLossWithoutDecay_IsTheMeanCrossEntropyOverTheLabelPositions()
    {
        var peft = Peft.Apply(TinyGpt(), Config());
        var ids = Tensor.FromArray(new long[,] { { 1, 5, 2 }, { 0, 3, 12 } });
        // Input types 1 (template) then 4 (label): shifted by the largest prompt type (6) to 7 and 10; none is a
        // label type, so only the prompt's label (type 4, token 9 at position 3) counts.
        var types = Tensor.FromArray(new long[,] { { 1, 4, 4 }, { 1, 1, 4 } });
        var (logits, loss) = Part(peft).ForwardWithLoss(peft, ids, ids, types);
        Assert.Equal([2, 9, 13], logits.Shape);
        var expected = Losses.CrossEntropy(logits.Narrow(1, 2, 1).Reshape(2, 13), Tensor.FromArray(new long[] { 9, 9 }));
        AssertClose(expected.Item(), loss.Item(), 1e-6);
        // The logits of the real tokens are the forward's.
        AssertClose(peft.Forward(ids), logits.Narrow(1, 6, 3), 1e-5);
    }

    [Fact]
    public void Generation_WithThePromptCacheMatchesUncachedGreedyDecoding()
    {
        var peft = Peft.Apply(TinyGpt(), Config());
        using (Autograd.Autograd.NoGrad()) Part(peft).Delta.CopyFrom(Tensor.Randn([6, 8], 0, 0.01, DType.Float32, new Generator(3)));
        TestSupport.AssertCachedGreedyGenerationMatchesUncached(peft);
    }

    [Fact]
    public void ClassifierEncoder_TakesTheContextPrompt()
    {
        var model = (TransformerEncoderClassifier)new TransformerEncoderClassifier(new TransformerEncoderConfig(13, 16, 8, 2, 2, 3, EncoderPooling.Mean, MlpRatio: 2), new Generator(1)).Eval();
        var peft = Peft.Apply(model, new CptConfig { CptTokenIds = [3, 7], CptTokensTypeMask = [1, 2] });
        var logits = peft.Forward(Ids());
        var context = model.TokenEmbedding.Weight.IndexSelect(0, Tensor.FromArray(new long[] { 3, 7 }));
        AssertClose(model.ForwardWithPrompt(Ids(), context.Unsqueeze(0).Expand(2, 2, 8)), logits, 1e-6);
        logits.Sum().Backward();
        Assert.Contains(Part(peft).Delta.Grad!.ToArray<float>(), v => v != 0);
    }

    [Fact]
    public void Config_RefusesMasksOfAnotherLength()
    {
        var e = Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), new CptConfig { CptTokenIds = [1, 2], CptTokensTypeMask = [1] }));
        Assert.Contains("cpt_tokens_type_mask", e.Message);
    }
}
