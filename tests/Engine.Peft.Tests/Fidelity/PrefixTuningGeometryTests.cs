using Engine.Nn.Checkpoints;
using Engine.Peft.Prompt;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Fidelity;

/// <summary>
/// Prefix tuning's shapes as PEFT's <c>PrefixEncoder</c>: the table and the MLP's input have the key/value width
/// (smaller than the model width under grouped-query attention), the MLP's hidden width is encoder_hidden_size or the
/// model width, the prefixes and the saved <c>prompt_embeddings</c> are [n, layers * 2 * kv width], and
/// init_weights = "zero" gives zero prefixes.
/// </summary>
public class PrefixTuningGeometryTests
{
    // Width 16, 4 heads of 4, 2 key/value heads: kv width 8. Two layers: prefixes [n, 2 * 2 * 8 = 32].
    static Gpt GqaGpt() => (Gpt)new Gpt(new GptConfig(13, 16, 16, 2, 4, KvHeads: 2, MlpRatio: 2), new Generator(3)).Eval();

    static PrefixTuning Part(PeftModel peft) => (PrefixTuning)peft.ModelPart("default")!;

    static Dictionary<string, Tensor> Parameters(PrefixTuning part) => part.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);

    [Fact]
    public void Projection_WithoutEncoderHiddenSize_HasTheModelWidthInside_AndKvWidthAtBothEnds()
    {
        var gpt = TinyGpt();   // width 8, 2 heads, no GQA
        gpt.Train();
        var peft = Peft.Apply(gpt, new PrefixTuningConfig { NumVirtualTokens = 3, PrefixProjection = true, Seed = 2 });
        var p = Parameters(Part(peft));
        Assert.True(Part(peft).Projection);
        Assert.Equal([3, 8], p["embedding"].Shape);
        Assert.Equal([8, 8], p["transform.0.weight"].Shape);       // [hidden = model width, kv width]
        Assert.Equal([2 * 2 * 8, 8], p["transform.2.weight"].Shape);
    }

    [Theory]
    [InlineData(null, 16)]   // the model width
    [InlineData(5, 5)]
    public void Projection_UnderGroupedQueryAttention_TakesKvWidthAndGivesLayersTimesTwoKvWidth(int? encoderHidden, int hidden)
    {
        var gpt = GqaGpt();
        gpt.Train();
        var peft = Peft.Apply(gpt, new PrefixTuningConfig { NumVirtualTokens = 3, PrefixProjection = true, EncoderHiddenSize = encoderHidden, Seed = 2 });
        var part = Part(peft);
        var p = Parameters(part);
        Assert.Equal([3, 8], p["embedding"].Shape);
        Assert.Equal([hidden, 8], p["transform.0.weight"].Shape);
        Assert.Equal([32, hidden], p["transform.2.weight"].Shape);

        // prefixes = tanh(E W1^T + b1) W2^T + b2, by loops.
        var hiddenOut = NaiveMatMulT(p["embedding"].ToDoubleArray(), 3, p["transform.0.weight"].ToDoubleArray(), 8, hidden);
        var b1 = p["transform.0.bias"].ToDoubleArray();
        var h = hiddenOut.Select((v, i) => Math.Tanh(v + b1[i % hidden])).ToArray();
        var b2 = p["transform.2.bias"].ToDoubleArray();
        var expected = NaiveMatMulT(h, 3, p["transform.2.weight"].ToDoubleArray(), hidden, 32).Select((v, i) => v + b2[i % 32]).ToArray();
        AssertClose(expected, part.Prefixes().ToDoubleArray(), 1e-5, "prefixes");
        Assert.Equal([3, 32], part.Prefixes().Shape);
        Assert.Equal([2, 5, 13], peft.Forward(Ids()).Shape);

        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var saved = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            Assert.Equal(["prompt_embeddings"], saved.Keys);
            Assert.Equal([3, 32], saved["prompt_embeddings"].Shape);
            AssertClose(expected, saved["prompt_embeddings"].ToDoubleArray(), 1e-5, "saved");
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void Table_UnderGroupedQueryAttention_IsLayersTimesTwoKvWidth()
    {
        var peft = Peft.Apply(GqaGpt(), new PrefixTuningConfig { NumVirtualTokens = 4, Seed = 2 });
        var part = Part(peft);
        Assert.False(part.Projection);
        Assert.Equal([4, 32], part.Embedding.Shape);
        Assert.Equal([2, 5, 13], peft.Forward(Ids()).Shape);
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            Assert.Equal([4, 32], Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName))["prompt_embeddings"].Shape);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ZeroInit_GivesZeroPrefixes(bool projection)
    {
        var gpt = GqaGpt();
        gpt.Train();
        var peft = Peft.Apply(gpt, new PrefixTuningConfig { NumVirtualTokens = 3, PrefixProjection = projection, InitWeights = "zero", Seed = 2 });
        var prefixes = Part(peft).Prefixes();
        Assert.Equal([3, 32], prefixes.Shape);
        Assert.All(prefixes.ToDoubleArray(), v => Assert.Equal(0.0, v));
    }
}
