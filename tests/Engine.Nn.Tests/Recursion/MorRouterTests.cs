using Engine.Autograd;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Recursion;

/// <summary>
/// The Mixture-of-Recursions routers' decisions and losses (spec structure-and-optimizers.md 1.2) against values
/// worked by hand or by naive loops, and the padded gather they produce.
/// </summary>
public class MorRouterTests
{
    static bool[][] Alive(params bool[][] rows) => rows;

    [Fact]
    public void ExpertSelect_TakesTheTopCapacityAmongSurvivorsInPositionOrder()
    {
        // Position 0 has the highest logit but did not survive the previous step, so it cannot be picked.
        double[] z = [5, 1, 4, 3, 2, 0];
        var sel = ExpertChoiceRouter.Select(z, Alive([false, true, true, true, true, true]), capacity: 0.5, threshold: false);
        Assert.Equal([2, 3, 4], sel.Kept[0]);
    }

    [Fact]
    public void ExpertSelect_KeepsAtLeastOneAndAtMostTheSurvivors()
    {
        double[] z = [0.3, -2, 0.1, 0.2];
        Assert.Equal([0], ExpertChoiceRouter.Select(z, Alive([true, true, true, true]), 0.01, false).Kept[0]);
        Assert.Equal([1, 3], ExpertChoiceRouter.Select(z, Alive([false, true, false, true]), 1, false).Kept[0]);
    }

    [Fact]
    public void ExpertSelect_ThresholdKeepsSurvivorsWithSigmoidAtLeastHalf()
    {
        double[] z = [0.5, -0.1, 0, 2, -3, 1, /* row 1 */ -1, -1, 1, 1, -1, 1];
        var alive = Alive([true, true, true, false, true, true], [true, true, true, true, true, false]);
        var sel = ExpertChoiceRouter.Select(z, alive, 0.5, threshold: true);
        Assert.Equal([0, 2, 5], sel.Kept[0]);
        Assert.Equal([2, 3], sel.Kept[1]);
        // Unit capacity keeps every survivor, as top-k with k = T would.
        Assert.Equal([0, 1, 2, 4, 5], ExpertChoiceRouter.Select(z, alive, 1, true).Kept[0]);
        // Rows keep different counts: the selection pads the shorter one.
        Assert.Equal(3, sel.Slots);
        Assert.Equal([true, true, true, true, true, false], sel.Valid);
    }

    [Fact]
    public void SelectionLoss_IsTheBceSumOverCandidatesOverTheirCount()
    {
        double[] z = [0.5, -1.5, 2, 0.25, -0.75, 1];
        var alive = Alive([true, true, false], [true, true, true]);
        var sel = new RecursionSelection([[0], [1, 2]], 3);
        double sum = 0;
        int count = 0;
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 3; t++)
            {
                if (!alive[b][t]) continue;
                double y = sel.Kept[b].Contains(t) ? 1 : 0, p = 1 / (1 + Math.Exp(-z[b * 3 + t]));
                sum += -(y * Math.Log(p) + (1 - y) * Math.Log(1 - p));
                count++;
            }
        var loss = ExpertChoiceRouter.SelectionLoss(Tensor.FromArray(z, [2, 3]), alive, sel);
        AssertClose(sum / count, loss.ToDoubleArray()[0], 1e-12);
        GradCheck.Assert(x => ExpertChoiceRouter.SelectionLoss(x[0], alive, sel), [Randn64(3, 2, 3)]);
    }

    [Fact]
    public void BalanceLoss_AtUniformAssignmentIsAlpha()
    {
        // Every f_i = 1, so Σ_i P_i f_i = Σ_i P_i = mean over tokens of Σ_i α·softmax_i = α, whatever the probabilities.
        double alpha = 0.7;
        var p = Randn64(1, 2, 3, 3).Softmax(-1) * alpha;
        int[][] depth = [[0, 1, 2], [2, 1, 0]];
        AssertClose(alpha, TokenChoiceRouter.BalanceLoss(p, depth).ToDoubleArray()[0], 1e-12);
    }

    [Fact]
    public void BalanceLoss_MatchesLoopsAndDifferentiatesThroughTheProbabilities()
    {
        var logits = Randn64(2, 2, 4, 3);
        var p = logits.Softmax(-1).ToDoubleArray();
        int[][] depth = [[0, 0, 2, 0], [1, 0, 0, 2]];
        double expected = 0;
        for (int i = 0; i < 3; i++)
        {
            double mean = 0, count = 0;
            for (int tok = 0; tok < 8; tok++)
            {
                mean += p[tok * 3 + i] / 8;
                if (depth[tok / 4][tok % 4] == i) count++;
            }
            expected += mean * 3 * count / 8;
        }
        AssertClose(expected, TokenChoiceRouter.BalanceLoss(logits.Softmax(-1), depth).ToDoubleArray()[0], 1e-12);
        GradCheck.Assert(x => TokenChoiceRouter.BalanceLoss(x[0].Softmax(-1), depth), [logits]);
    }

    [Fact]
    public void TokenDepths_AreTheArgmaxWithTiesToTheShallowerDepth()
    {
        var p = Tensor.FromArray(new double[] { 0.2, 0.5, 0.3, 0.4, 0.4, 0.2, 0.1, 0.1, 0.8 }, [1, 3, 3]);
        Assert.Equal([1, 0, 2], TokenChoiceRouter.Depths(p)[0]);
    }

    [Fact]
    public void ZLoss_OfZeroLogitsIsLogNSquared()
    {
        AssertClose(Math.Pow(Math.Log(3), 2), TokenChoiceRouter.ZLoss(Tensor.Zeros([2, 4, 3], DType.Float64)).ToDoubleArray()[0], 1e-12);
    }

    [Fact]
    public void Selection_GathersAndScattersThePaddedRows()
    {
        var h = Randn64(4, 2, 4, 3);
        var sel = new RecursionSelection([[1, 3], [2]], 4);
        var g = sel.Gather(h).ToDoubleArray();
        var x = h.ToDoubleArray();
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(x[(0 * 4 + 1) * 3 + c], g[(0 * 2 + 0) * 3 + c]);
            Assert.Equal(x[(0 * 4 + 3) * 3 + c], g[(0 * 2 + 1) * 3 + c]);
            Assert.Equal(x[(1 * 4 + 2) * 3 + c], g[(1 * 2 + 0) * 3 + c]);
        }
        // Scattering the valid-masked gather back adds each kept row once and nothing for the padding.
        var doubled = sel.ScatterAdd(h, sel.Gather(h) * sel.ValidMask(DType.Float64, h.Device)).ToDoubleArray();
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 4; t++)
                for (int c = 0; c < 3; c++)
                {
                    int i = (b * 4 + t) * 3 + c;
                    Assert.Equal(sel.Contains(b, t) ? 2 * x[i] : x[i], doubled[i], 12);
                }
    }

    [Fact]
    public void Selection_RejectsUnsortedPositions()
    {
        var ex = Assert.Throws<ArgumentException>(() => new RecursionSelection([[2, 1]], 4));
        Assert.Contains("ascending", ex.Message);
    }
}
