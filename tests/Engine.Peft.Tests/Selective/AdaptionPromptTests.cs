using Engine.Peft.Prompt;
using Engine.Peft.Tests.Laws;
using Xunit;

namespace Engine.Peft.Tests.Selective;

/// <summary>Adaption prompt: the gated prompt attention against a naive reference, its place, and decoding with a cache.</summary>
public class AdaptionPromptTests
{
    static PeftModel<Gpt> Adapted(Gpt model, int layers = 1)
    {
        var peft = Peft.Apply(model, new AdaptionPromptConfig { AdapterLen = 3, AdapterLayers = layers, Seed = 5 });
        using var _ = Autograd.Autograd.NoGrad();
        foreach (var (_, layer) in peft.AdapterLayers())
            ((AdaptionPromptLayer)layer).Gate("default").CopyFrom(Tensor.FromArray(new float[] { 0.8f }));
        return peft;
    }

    [Fact]
    public void OnlyTheTopLayersAreAdapted_UnderGpt2Keys()
    {
        var peft = Peft.Apply(LawCases.Base(), new AdaptionPromptConfig { AdapterLen = 3, AdapterLayers = 1 });
        Assert.Equal(["blocks.1.attn"], peft.AdapterLayers().Select(l => l.Path));
        Assert.Equal(["base_model.model.transformer.h.1.attn.adaption_gate", "base_model.model.transformer.h.1.attn.adaption_prompt"],
            peft.NamedAdapterTensors("default").Select(t => t.Key).Order(StringComparer.Ordinal));
        Assert.Contains("adapter_layers", Assert.Throws<ArgumentException>(() => Peft.Apply(LawCases.Base(), new AdaptionPromptConfig { AdapterLen = 3, AdapterLayers = 3 })).Message);
    }

    [Fact]
    public void AddedTerm_IsTheGatedSoftmaxOverThePromptKeys_NaiveReference()
    {
        var model = LawCases.Base();
        var peft = Adapted(model);
        var layer = (AdaptionPromptLayer)peft.AdapterLayers().Single().Layer;
        var attn = model.Blocks[1].Attn;
        var x = Tensor.Randn([1, 4, 16], generator: new Generator(8));
        double[] added;
        using (Autograd.Autograd.NoGrad())
            added = (((ITokenMixer)layer).Forward(x, null, null) - attn.Forward(x)).ToDoubleArray();

        // qkv = x W^T + b for the tokens and the prompt; 2 heads of width 8; keys at columns 16..31, values 32..47.
        double[] Project(double[] rows, int count)
        {
            var (w, bias) = (attn.Qkv.Weight.ToDoubleArray(), attn.Qkv.Bias!.ToDoubleArray());
            var result = new double[count * 48];
            for (int r = 0; r < count; r++)
                for (int o = 0; o < 48; o++)
                {
                    double s = bias[o];
                    for (int i = 0; i < 16; i++) s += rows[r * 16 + i] * w[o * 16 + i];
                    result[r * 48 + o] = s;
                }
            return result;
        }
        var tokens = Project(x.ToDoubleArray(), 4);
        var prompt = Project(layer.Prompt("default").ToDoubleArray(), 3);
        for (int t = 0; t < 4; t++)
            for (int head = 0; head < 2; head++)
            {
                var scores = new double[3];
                for (int p = 0; p < 3; p++)
                {
                    double s = 0;
                    for (int k = 0; k < 8; k++) s += tokens[t * 48 + head * 8 + k] * prompt[p * 48 + 16 + head * 8 + k];
                    scores[p] = s / Math.Sqrt(8);
                }
                double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
                for (int k = 0; k < 8; k++)
                {
                    double expected = 0;
                    for (int p = 0; p < 3; p++) expected += 0.8 * Math.Exp(scores[p] - max) / sum * prompt[p * 48 + 32 + head * 8 + k];
                    Assert.True(Math.Abs(expected - added[t * 16 + head * 8 + k]) < 1e-5, $"position {t}, head {head}, dim {k}: expected {expected}, got {added[t * 16 + head * 8 + k]}");
                }
            }
    }

    [Fact]
    public void CachedDecoding_EqualsTheFullForward_AndGreedyGenerationAgrees()
    {
        var model = LawCases.Base();
        var peft = Adapted(model, layers: 2);
        var ids = LawCases.Ids();
        using var _ = Autograd.Autograd.NoGrad();
        var full = peft.Forward(ids);
        var cache = model.CreateCache();
        var first = model.Forward(ids.Narrow(1, 0, 3), cache);
        var rest = model.Forward(ids.Narrow(1, 3, 2), cache);
        Assert.True((Tensor.Concat([first, rest], 1) - full).Abs().Max().Item() < 1e-5);

        var prompt = ids.Narrow(1, 0, 2);
        var cached = Sampling.Generate(model, prompt, 4, new SamplingOptions(Greedy: true));
        var uncached = prompt;
        for (int i = 0; i < 4; i++)
        {
            var next = peft.Forward(uncached).Narrow(1, uncached.Size(1) - 1, 1).ArgMax(-1);
            uncached = Tensor.Concat([uncached, next.To(uncached.DType)], 1);
        }
        Assert.Equal(uncached.ToDoubleArray(), cached.ToDoubleArray());
        using (peft.DisableAdapters()) Assert.False((peft.Forward(ids) - full).Abs().Max().Item() < 1e-4);
    }
}
