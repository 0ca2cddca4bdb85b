using Engine.Autograd;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Moe;

/// <summary>The oracles of spec structure-and-optimizers.md 2.1 for <see cref="MoeFeedForward"/>.</summary>
public class MoeFeedForwardTests
{
    const int D = 6, H = 5;

    static MoeFeedForward Layer(MoeOptions options, ulong seed = 1, DType dtype = DType.Float64)
    {
        var layer = new MoeFeedForward(D, H, options, generator: new Generator(seed));
        ScrambleAll(layer, seed * 100, 0.7);
        layer.To(dtype);
        return layer;
    }

    public static TheoryData<string> Variants => new() { "mixtral-top2", "switch-top1-capacity", "top3-shared-capacity" };

    static MoeOptions Options(string variant) => variant switch
    {
        "mixtral-top2" => new MoeOptions(4, TopK: 2),
        "switch-top1-capacity" => new MoeOptions(4, TopK: 1, Renormalize: false, CapacityFactor: 0.75),
        "top3-shared-capacity" => new MoeOptions(5, TopK: 3, CapacityFactor: 0.8, SharedExpert: true),
        _ => throw new ArgumentException(variant),
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Forward_EqualsANaivePerTokenLoop_OutputsChoicesAndLosses(string variant)
    {
        var layer = Layer(Options(variant));
        var x = Randn64(7, 3, 5, D);
        using var aux = AuxiliaryLosses.Collect();
        var y = layer.Forward(x);
        var expected = MoeReference.Forward(layer, x.ToDoubleArray(), 15);
        Assert.Equal(expected.Choices, layer.LastDecision!.Choices);
        Assert.Equal(expected.Kept, layer.LastDecision.Kept);
        Assert.Equal([3, 5, D], y.Shape);
        AssertClose(expected.Output, y.ToDoubleArray(), 1e-10, "output");
        AssertClose(0.01 * expected.Balance, aux.Losses["moe_balance"].Item(), 1e-12, "balance loss");
        AssertClose(1e-3 * expected.ZLoss, aux.Losses["moe_z"].Item(), 1e-12, "z-loss");
        if (layer.Options.CapacityFactor is not null) Assert.True(layer.LastDecision.Dropped > 0, "the capacity case must drop some assignments to test dropping");
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Gradients_OfOutputAndAuxiliaryLosses_MatchFiniteDifferences_RouterIncluded(string variant)
    {
        var layer = Layer(Options(variant), seed: 3);
        var x = Randn64(11, 2, 4, D);
        x.RequiresGrad = true;
        var r = Randn64(12, 2, 4, D);
        // Fixed top-k choices: finite differences must not flip a choice, so the data keep every gap well above the step.
        using (Autograd.Autograd.NoGrad()) layer.Forward(x);
        var d = layer.LastDecision!;
        Assert.True(MoeReference.TopKMargin(d.Probabilities, d.Tokens, d.Experts, d.TopK) > 1e-4, "near-tie in the test data");
        Tensor F()
        {
            using var aux = AuxiliaryLosses.Collect();
            // Large coefficients so the auxiliary losses' gradients are not lost in the tolerance.
            return (layer.Forward(x) * r).Sum() + aux.Total() * 10;
        }
        var parameters = layer.NamedParameters().Append(("input", x));
        var result = GradCheck.CheckParameters(F, parameters, 10, new GradCheckOptions(Eps: 1e-6, Atol: 1e-6, Rtol: 1e-4, Seed: 5));
        Assert.True(result.Passed, result.Message);
        Assert.Equal(d.Choices, layer.LastDecision!.Choices);
    }

    [Fact]
    public void IdenticalExpertsWithRenormalisedTopK_EqualTheDenseFfn_ForAnyRouter()
    {
        var dense = new Mlp(D, H, new GELU(true), generator: new Generator(2));
        ScrambleAll(dense, 20);
        var layer = new MoeFeedForward(D, H, new MoeOptions(4, TopK: 2), generator: new Generator(3));
        foreach (var expert in layer.Experts.Items) expert.LoadStateDict(dense.StateDict());
        ScrambleAll(layer.Router, 30, 2.0);
        var x = Randn(4, 3, 7, D);
        AssertClose(dense.Forward(x), layer.Forward(x), 1e-5);
        Assert.NotEqual(layer.Experts[0].Fc.Weight, dense.Fc.Weight);
    }

    [Theory]
    [InlineData(4, 2, true, 2.0)]
    [InlineData(4, 1, false, 1.0)]
    [InlineData(8, 3, true, 3.0)]
    public void BalanceLoss_AtUniformRouting_IsK_AndZLossAtZeroLogits_IsLnESquared(int experts, int k, bool renormalize, double expectedBalance)
    {
        var layer = new MoeFeedForward(D, H, new MoeOptions(experts, TopK: k, Renormalize: renormalize, BalanceCoefficient: 1, ZLossCoefficient: 1));
        using (Autograd.Autograd.NoGrad()) layer.Router.Weight.CopyFrom(Tensor.Zeros(experts, D));
        using var aux = AuxiliaryLosses.Collect();
        layer.Forward(Randn(5, 16, D));
        AssertClose(expectedBalance, aux.Losses["moe_balance"].Item(), 1e-6);
        AssertClose(Math.Log(experts) * Math.Log(experts), aux.Losses["moe_z"].Item(), 1e-5);
    }

    [Fact]
    public void AuxiliaryLosses_AreNotAdded_InEvaluationOrOutsideACollection()
    {
        var layer = Layer(new MoeOptions(4), dtype: DType.Float32);
        var x = Randn(1, 8, D);
        layer.Eval();
        using (var aux = AuxiliaryLosses.Collect())
        {
            layer.Forward(x);
            Assert.Empty(aux.Losses);
        }
        layer.Train();
        using (var aux = AuxiliaryLosses.Collect())
        {
            layer.Forward(x);
            Assert.Equal(["moe_balance", "moe_z"], aux.Losses.Keys.Order());
        }
    }

    [Theory]
    [InlineData(1, 0.5)]
    [InlineData(2, 0.7)]
    [InlineData(2, 1.0)]
    public void Capacity_NoExpertTakesMoreThanC_AndDroppedTokensGetNothingFromIt(int k, double cf)
    {
        var layer = Layer(new MoeOptions(4, TopK: k, CapacityFactor: cf), dtype: DType.Float32);
        // A skewed router: most tokens prefer one expert, so the capacity must drop some.
        using (Autograd.Autograd.NoGrad()) layer.Router.Weight.CopyFrom(layer.Router.Weight + Tensor.FromArray(new float[] { 3, 0, 0, 0 }).Reshape(4, 1));
        var x = Randn(9, 40, D).Abs();
        layer.Forward(x);
        var d = layer.LastDecision!;
        int c = (int)Math.Ceiling(cf * 40 * k / 4);
        Assert.Equal(c, d.Capacity);
        Assert.All(d.Processed, p => Assert.True(p <= c, $"an expert took {p} > C = {c}"));
        Assert.True(d.Dropped > 0);
        Assert.Equal(d.Assigned.Sum() - d.Processed.Sum(), d.Dropped);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Capacity_WithCfAtLeastEOverK_DropsNothing_AndEqualsTheUncappedPath(int k)
    {
        var x = Randn(13, 2, 9, D);
        var uncapped = Layer(new MoeOptions(4, TopK: k), seed: 4, dtype: DType.Float32);
        var capped = Layer(new MoeOptions(4, TopK: k, CapacityFactor: 4.0 / k), seed: 4, dtype: DType.Float32);
        var y = capped.Forward(x);
        Assert.Equal(0, capped.LastDecision!.Dropped);
        Assert.Equal(uncapped.Forward(x).ToDoubleArray(), y.ToDoubleArray());
    }

    [Fact]
    public void EvalCapacityFactor_AppliesInEvaluation_TrainingFactorInTraining()
    {
        var layer = Layer(new MoeOptions(4, TopK: 2, CapacityFactor: 1.25, EvalCapacityFactor: 2.0), dtype: DType.Float32);
        var x = Randn(3, 1, 10, D);
        layer.Forward(x);
        Assert.Equal((int)Math.Ceiling(1.25 * 10 * 2 / 4), layer.LastDecision!.Capacity);
        layer.Eval();
        layer.Forward(x);
        Assert.Equal(10, layer.LastDecision!.Capacity);
    }

    [Fact]
    public void TopK_BreaksTiesToTheLowerExpertIndex_Deterministically()
    {
        var decision = RouterDecision.Route([0.1, 0.4, 0.4, 0.1, 0.25, 0.25, 0.25, 0.25], tokens: 2, experts: 4, topK: 3, capacity: null);
        Assert.Equal([1, 2, 0, 0, 1, 2], decision.Choices);
        // All-zero router: every expert ties for every token, so each token takes experts 0 .. k-1, every run.
        var layer = new MoeFeedForward(D, H, new MoeOptions(4, TopK: 2));
        using (Autograd.Autograd.NoGrad()) layer.Router.Weight.CopyFrom(Tensor.Zeros(4, D));
        var x = Randn(2, 5, D);
        var first = layer.Forward(x).ToDoubleArray();
        Assert.Equal(Enumerable.Repeat(new[] { 0, 1 }, 5).SelectMany(c => c), layer.LastDecision!.Choices);
        Assert.Equal(first, layer.Forward(x).ToDoubleArray());
    }

    [Fact]
    public void RouterDecision_Loads_AreSharesOfTheAssignments()
    {
        var decision = RouterDecision.Route([0.7, 0.2, 0.1, 0.6, 0.3, 0.1, 0.1, 0.2, 0.7], tokens: 3, experts: 3, topK: 1, capacity: 1);
        Assert.Equal([2, 0, 1], decision.Assigned);
        Assert.Equal([1, 0, 1], decision.Processed);
        Assert.Equal(1, decision.Dropped);
        AssertClose([2 / 3.0, 0, 1 / 3.0], decision.Loads, 1e-12);
        AssertClose(2.0, decision.MaxLoadOverUniform, 1e-12);
    }

    [Fact]
    public void BadInput_GetsNamedExceptions()
    {
        Assert.Contains("TopK 5", Assert.Throws<ArgumentException>(() => new MoeFeedForward(D, H, new MoeOptions(4, TopK: 5))).Message);
        Assert.Contains("CapacityFactor", Assert.Throws<ArgumentException>(() => new MoeFeedForward(D, H, new MoeOptions(4, CapacityFactor: 0))).Message);
        var layer = new MoeFeedForward(D, H, new MoeOptions(4));
        Assert.Contains("[2,5]", Assert.Throws<ArgumentException>(() => layer.Forward(Tensor.Zeros(2, 5))).Message);
        Assert.Contains("one value per expert", Assert.Throws<ArgumentException>(() => layer.RouterLogitBias = [1.0]).Message);
    }
}
