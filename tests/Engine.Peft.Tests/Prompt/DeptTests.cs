using Engine.Peft.Prompt;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Prompt;

/// <summary>
/// DePT (ZhengxiangShi/DePT prompt_tuning_lora.py, spec adapters-other.md section 9): P before the input and
/// E′ = E + c·(A·B)[position]; at init E′ == E; against a naive reference on the base model's embeddings; positions
/// from max_length on get no update; cached decoding equals uncached; m·d + s·r + r·d trainable numbers; not mergeable.
/// </summary>
public class DeptTests
{
    static DeptConfig Config(int s = 8) => new() { NumVirtualTokens = 3, R = 2, LoraAlpha = 4, MaxLength = s, Seed = 7 };

    // The base model on [P; E + c·(A·B)[0..T) (rows past s: none)], real tokens only, without the adapter's layer.
    static Tensor Naive(Dept part, DeptConfig c, Tensor ids)
    {
        var gpt = TinyGpt();
        int b = ids.Size(0), t = ids.Size(1), s = c.MaxLength, d = part.Embeddings.Size(1);
        var table = (part.LoraA.Detach() % part.LoraB.Detach() * (c.LoraAlpha / Math.Sqrt(c.R))).ToDoubleArray();
        var update = new double[t * d];
        for (int j = 0; j < Math.Min(t, s); j++) for (int k = 0; k < d; k++) update[j * d + k] = table[j * d + k];
        var e = gpt.Tok.Forward(ids) + Tensor.FromArray(update, [t, d]).To(DType.Float32);
        var p = part.Embeddings.Detach().Unsqueeze(0).Expand(b, 3, d);
        return gpt.ForwardEmbeddings(Tensor.Concat([p, e], 1), null).Narrow(1, 3, t);
    }

    static Dept Part(PeftModel peft) => (Dept)peft.ModelPart("default")!;

    [Fact]
    public void AtInit_TheInputEmbeddingsAreUnchanged_PromptTuningOnTheSameP()
    {
        var peft = Peft.Apply(TinyGpt(), Config());
        Assert.All(Part(peft).LoraB.ToDoubleArray(), v => Assert.Equal(0, v));
        Assert.Contains(Part(peft).LoraA.ToDoubleArray(), v => v != 0);
        var p = Part(peft).Embeddings.Detach();
        var expected = TinyGpt().ForwardWithPrompt(Ids(), p.Unsqueeze(0).Expand(2, 3, p.Size(1)));
        AssertClose(expected, peft.Forward(Ids()), 1e-6);
    }

    [Theory]
    [InlineData(8)]   // every input position has a row of A
    [InlineData(3)]   // positions 3 and 4 lie past max_length: no update there
    public void Forward_IsTheNaivePositionWiseUpdateOfTheTokenEmbeddings(int s)
    {
        var c = Config(s);
        var peft = Peft.Apply(TinyGpt(), c);
        Scramble(Part(peft).LoraB, 11, 0.5);
        Scramble(Part(peft).Embeddings, 12, 0.5);
        AssertClose(Naive(Part(peft), c, Ids()), peft.Forward(Ids()), 1e-5);
        // The update matters (the check would fail without it).
        var p = Part(peft).Embeddings.Detach();
        var promptOnly = TinyGpt().ForwardWithPrompt(Ids(), p.Unsqueeze(0).Expand(2, 3, p.Size(1)));
        Assert.True((promptOnly - peft.Forward(Ids())).Abs().ToDoubleArray().Max() > 1e-3);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(3)]   // generation runs past max_length
    public void Generation_WithThePromptCacheMatchesUncachedGreedyDecoding(int s)
    {
        var peft = Peft.Apply(TinyGpt(), Config(s));
        Scramble(Part(peft).LoraB, 13, 1.0);
        AssertCachedGreedyGenerationMatchesUncached(peft);
    }

    [Fact]
    public void TrainableCount_IsPromptPlusBothFactors_AndGradientsMatchFiniteDifferences()
    {
        var peft = Peft.Apply(TinyGpt(), Config());
        // m·d + s·r + r·d with m 3, d 8, s 8, r 2.
        Assert.Equal(3 * 8 + 8 * 2 + 2 * 8, peft.PrintTrainableParameters(TextWriter.Null).Trainable);
        peft.To(DType.Float64);
        Scramble(Part(peft).LoraB, 14, 0.5);
        var ids = Tensor.FromArray(new long[,] { { 1, 5, 2 }, { 4, 0, 9 } });
        AssertParameterGradients(peft.ModelParts["default"], () => peft.Forward(ids));
    }

    [Fact]
    public void TwoLearningRates_PromptAtLr_FactorsAtTheRatio_NothingElseTrains()
    {
        var peft = Peft.Apply(TinyGpt(), Config() with { LoraEmbeddingLrRatio = 0.25 });
        var groups = peft.ParamGroups(lr: 0.4, weightDecay: 0);
        var part = Part(peft);
        var prompt = Assert.Single(groups, g => g.Parameters.Contains(part.Embeddings));
        var factors = Assert.Single(groups, g => g.Parameters.Contains(part.LoraA));
        Assert.Equal(0.4, prompt.Lr);
        Assert.Equal(0.1, factors.Lr, 12);
        Assert.Equal([part.LoraA, part.LoraB], factors.Parameters, ReferenceEqualityComparer.Instance);
        Assert.Equal(3, groups.Sum(g => g.Parameters.Count));
    }

    [Fact]
    public void Merge_IsRefused()
    {
        var peft = Peft.Apply(TinyGpt(), Config());
        Assert.Throws<NotSupportedException>(() => peft.Merge());
    }

    [Fact]
    public void SaveAndLoad_GiveTheSameOutputs_UnderTheReferenceKeys()
    {
        var peft = Peft.Apply(TinyGpt(), Config());
        Scramble(Part(peft).LoraB, 15, 0.5);
        var dir = Path.Combine(Path.GetTempPath(), "dept-" + Guid.NewGuid().ToString("N"));
        try
        {
            peft.SavePretrained(dir);
            var keys = Engine.Nn.Checkpoints.Safetensors.Load(Path.Combine(dir, "adapter_model.safetensors")).Keys.Order().ToArray();
            Assert.Equal(["prompt_embeddings", "prompt_encoder.lora_embedding_A", "prompt_encoder.lora_embedding_B"], keys);
            var loaded = Peft.FromPretrained(TinyGpt(), dir);
            AssertClose(peft.Forward(Ids()), loaded.Forward(Ids()), 1e-6);
        }
        finally { Directory.Delete(dir, true); }
    }
}
