using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Moe;

/// <summary>The router hooks of spec structure-and-optimizers.md 2.4: the logit bias and the distribution recorder.</summary>
public class RouterHookTests
{
    static Gpt MoeGpt(int k = 2) => new(new GptConfig(11, 16, 8, 3, 2, MlpRatio: 2, Moe: new MoeOptions(4, TopK: k)), new Generator(8));

    static Tensor Ids => TestSupport.Ids(new long[,] { { 1, 4, 2, 9, 3, 3, 7 }, { 0, 5, 10, 2, 8, 6, 1 } });

    [Fact]
    public void ZeroLogitBias_LeavesTheOutputUnchanged()
    {
        var model = MoeGpt();
        model.Eval();
        var before = model.Forward(Ids).ToDoubleArray();
        foreach (var b in model.Blocks.Items) b.Moe!.RouterLogitBias = new double[4];
        Assert.Equal(before, model.Forward(Ids).ToDoubleArray());
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 3)]
    public void AHugeLogitBias_OnOneExpert_MakesItAlwaysSelected(int k, int expert)
    {
        var model = MoeGpt(k);
        model.Eval();
        var middle = model.Blocks[1].Moe!;
        var bias = new double[4];
        bias[expert] = 1e9;
        middle.RouterLogitBias = bias;
        model.Forward(Ids);
        var d = middle.LastDecision!;
        for (int t = 0; t < d.Tokens; t++) Assert.Equal(expert, d.Choices[t * k]);
        // The other layers were not touched: they still route by their own logits.
        Assert.NotEqual(Enumerable.Repeat(expert, d.Tokens), Enumerable.Range(0, d.Tokens).Select(t => model.Blocks[0].Moe!.LastDecision!.Choices[t * k]));
    }

    [Fact]
    public void AHugeLogitBias_WithTopOne_MakesTheLayerThatExpert()
    {
        var layer = new MoeFeedForward(6, 5, new MoeOptions(4, TopK: 1, Renormalize: false), generator: new Generator(3));
        layer.RouterLogitBias = [0, 0, 0, 1e9];
        var x = Randn(4, 9, 6);
        AssertClose(layer.Experts[3].Forward(x), layer.Forward(x), 1e-6);
    }

    [Fact]
    public void Recorder_AveragesEachLayersRouterDistribution_PerGroup()
    {
        var model = MoeGpt();
        model.Eval();
        using var recorder = RouterDistributionRecorder.Attach(model);
        Assert.Equal(["blocks.0.moe", "blocks.1.moe", "blocks.2.moe"], recorder.Layers);
        var a = Ids.Narrow(0, 0, 1);
        var b = Ids.Narrow(0, 1, 1);
        recorder.Group = "a";
        model.Forward(a);
        var pa = model.Blocks[2].Moe!.LastDecision!;
        model.Forward(a);
        recorder.Group = "b";
        model.Forward(b);
        // The mean over the two identical passes is the mean of one; computed here from the recorded probabilities.
        var expected = Enumerable.Range(0, 4).Select(e => Enumerable.Range(0, pa.Tokens).Average(t => pa.Probabilities[t * 4 + e])).ToArray();
        AssertClose(expected, recorder.MeanDistribution("a", "blocks.2.moe"), 1e-12);
        Assert.Equal(2L * 7 * 2, recorder.ChosenCounts("a", "blocks.2.moe").Sum());
        var js = recorder.Divergence("a", "b");
        Assert.All(js.Values, v => Assert.InRange(v, 1e-9, Math.Log(2)));
        Assert.Throws<KeyNotFoundException>(() => recorder.MeanDistribution("c", "blocks.0.moe"));
    }

    [Fact]
    public void JensenShannon_IsZeroForEqual_Ln2ForDisjoint_SymmetricAndMatchesAHandValue()
    {
        Assert.Equal(0, RouterDistributionRecorder.JensenShannon([0.2, 0.8], [0.2, 0.8]), 12);
        Assert.Equal(Math.Log(2), RouterDistributionRecorder.JensenShannon([1, 0], [0, 1]), 12);
        double[] p = [0.5, 0.5, 0], q = [0, 0.5, 0.5];
        // m = [0.25, 0.5, 0.25]: ½(0.5 ln 2) + ½(0.5 ln 2) = ½ ln 2.
        Assert.Equal(0.5 * Math.Log(2), RouterDistributionRecorder.JensenShannon(p, q), 12);
        Assert.Equal(RouterDistributionRecorder.JensenShannon(p, q), RouterDistributionRecorder.JensenShannon(q, p), 15);
    }
}
