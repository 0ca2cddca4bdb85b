using Engine.Autograd;
using System.Text.Json;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Moe;

/// <summary>A GPT whose blocks' feed-forwards are mixtures of experts (<see cref="GptConfig.Moe"/>).</summary>
public class MoeGptTests
{
    static Gpt MoeGpt(MoeOptions? moe = null, int layers = 2) =>
        new(new GptConfig(11, 16, 8, layers, 2, MlpRatio: 2, Moe: moe ?? new MoeOptions(4, TopK: 2)), new Generator(5));

    static Tensor Ids => TestSupport.Ids(new long[,] { { 1, 4, 2, 9, 3, 3, 7 }, { 0, 5, 10, 2, 8, 6, 1 } });

    [Fact]
    public void Blocks_HoldAMoeSlot_WithRouterAndExperts_AndDenseModelsKeepTheirMlpNames()
    {
        var names = MoeGpt().StateDict().Keys.ToHashSet();
        Assert.Contains("blocks.0.moe.router.weight", names);
        Assert.Contains("blocks.1.moe.experts.3.proj.bias", names);
        Assert.DoesNotContain(names, n => n.Contains(".mlp."));
        Assert.DoesNotContain("blocks.0.moe.router.bias", names);
        var dense = TinyGpt(layers: 2).StateDict().Keys;
        Assert.Contains("blocks.1.mlp.fc.weight", dense);
        Assert.DoesNotContain(dense, n => n.Contains(".moe."));
        Assert.Throws<InvalidOperationException>(() => MoeGpt().Blocks[0].Mlp);
        Assert.Null(TinyGpt().Blocks[0].Moe);
    }

    [Fact]
    public void DecodingTokenByTokenWithTheKvCache_EqualsOneFullForward()
    {
        var gpt = MoeGpt(new MoeOptions(4, TopK: 2, SharedExpert: true));
        gpt.Eval();
        var full = gpt.Forward(Ids);
        var cache = gpt.CreateCache();
        var steps = Enumerable.Range(0, 7).Select(t => gpt.Forward(Ids.Narrow(1, t, 1), cache)).ToArray();
        AssertClose(full, Tensor.Concat(steps, 1), 1e-5);
    }

    [Fact]
    public void TrainingForward_AddsEveryLayersRouterLosses()
    {
        var gpt = MoeGpt(layers: 3);
        using var aux = AuxiliaryLosses.Collect();
        gpt.Forward(Ids);
        // Σ over the layers of each layer's own loss, recomputed from what it recorded.
        double balance = gpt.Blocks.Items.Sum(b =>
        {
            var d = b.Moe!.LastDecision!;
            var f = d.SlotFractions();
            var p = d.MeanProbabilities();
            return 0.01 * d.Experts * f.Select((v, i) => v * p[i % d.Experts]).Sum();
        });
        AssertClose(balance, aux.Losses["moe_balance"].Item(), 1e-6);
        Assert.Equal(3, MoeLoads.Of(gpt).Count);
    }

    [Fact]
    public void Config_RoundTripsThroughJson_WithTheMoeOptions()
    {
        var config = MoeGpt(new MoeOptions(8, TopK: 1, Renormalize: false, CapacityFactor: 1.25, EvalCapacityFactor: 2, SharedExpert: true, RouterNoise: 0.1)).Config;
        var back = JsonSerializer.Deserialize<GptConfig>(JsonSerializer.Serialize(config))!;
        Assert.Equal(config.Moe, back.Moe);
        Assert.Equal(config with { Moe = null }, back with { Moe = null });
        Assert.Null(JsonSerializer.Deserialize<GptConfig>(JsonSerializer.Serialize(TinyGpt().Config))!.Moe);
    }

    [Fact]
    public void Training_LowersTheLossOfAMoeGpt_AndEveryExpertGetsGradients()
    {
        var gpt = MoeGpt();
        var opt = new AdamW(gpt.Parameters(), lr: 1e-2);
        var x = Ids.Narrow(1, 0, 6);
        var y = Ids.Narrow(1, 1, 6);
        double first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            using var aux = AuxiliaryLosses.Collect();
            var loss = Losses.CrossEntropy(gpt.Forward(x), y);
            (loss + aux.Total()).Backward();
            if (step == 0)
                Assert.All(gpt.Blocks[0].Moe!.Experts.Items, e => Assert.NotNull(e.Fc.Weight.Grad));
            opt.Step();
            opt.ZeroGrad();
            if (step == 0) first = loss.Item();
            last = loss.Item();
        }
        Assert.True(last < first * 0.5, $"loss {first} -> {last}");
    }
}
