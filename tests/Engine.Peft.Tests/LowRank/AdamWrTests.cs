using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// AdamWr (<see cref="AdamWr"/>, B4M's Riemannian-preconditioned AdamW; spec seeds-remaining.md §2): the spec's oracles
/// (rank 1 and δ = 0 scale G_A by 1/‖B‖²; B with orthonormal columns and δ = 0 is plain Adam on A), δ against a hand
/// inverse, the identity for a Gram at zero, and its refusals.
/// </summary>
public class AdamWrTests
{
    static Tensor Param(Tensor value) { value.RequiresGrad = true; return value; }

    static AdamWr Optimizer(Tensor a, Tensor b, double lr = 0.1, double wd = 0, double eps = 1e-8, double delta = 0) =>
        new([new ParamGroup([a, b], lr, wd)], [new LowRankFactorPair(a, b)], eps: eps, delta: delta);

    [Fact]
    public void RankOne_DeltaZero_ScalesGradientOfAByOneOverNormOfBSquared_AndOfBByOneOverNormOfASquared()
    {
        var a = Param(Randn64(1, 1, 5));
        var b = Param(Randn64(2, 4, 1));
        var (ga, gb) = (Randn64(3, 1, 5), Randn64(4, 4, 1));
        double nb = b.ToDoubleArray().Sum(v => v * v), na = a.ToDoubleArray().Sum(v => v * v);
        var (pa, pb) = Optimizer(a, b).Precondition(new LowRankFactorPair(a, b), ga, gb);
        AssertClose(ga.ToDoubleArray().Select(v => v / nb).ToArray(), pa!.ToDoubleArray(), 1e-12);
        AssertClose(gb.ToDoubleArray().Select(v => v / na).ToArray(), pb!.ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void RankOne_FirstStep_IsTheHandComputedAdamStepOnThePreconditionedGradient()
    {
        // At t = 1, m̂ = ĝ and v̂ = ĝ², so the step is lr ĝ/(|ĝ| + ε); a large ε makes the 1/‖B‖² scale visible.
        var a = Param(Randn64(1, 1, 5));
        var b = Param(Randn64(2, 4, 1));
        double[] a0 = a.ToDoubleArray(), b0 = b.ToDoubleArray();
        a.Grad = Randn64(3, 1, 5);
        b.Grad = Randn64(4, 4, 1);
        double[] ga = a.Grad.ToDoubleArray(), gb = b.Grad.ToDoubleArray();
        double nb = b0.Sum(v => v * v), na = a0.Sum(v => v * v);
        const double lr = 0.1, eps = 0.5, wd = 0.2;
        Optimizer(a, b, lr, wd, eps).Step();
        double Step(double p, double g) => p * (1 - lr * wd) - lr * g / (Math.Abs(g) + eps);
        AssertClose(a0.Select((p, i) => Step(p, ga[i] / nb)).ToArray(), a.ToDoubleArray(), 1e-12);
        AssertClose(b0.Select((p, i) => Step(p, gb[i] / na)).ToArray(), b.ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void OrthonormalColumnsOfB_DeltaZero_TrainAExactlyAsPlainAdam()
    {
        var (q, _) = Linalg.Qr(Randn64(5, 6, 3));
        var b = Param(q.Contiguous());
        var a = Param(Randn64(6, 3, 5));
        var reference = Param(a.Detach().Clone());
        var adamWr = Optimizer(a, b, lr: 0.05, wd: 0.1);
        var adam = new AdamW([reference], lr: 0.05, weightDecay: 0.1);
        for (int step = 0; step < 6; step++)
        {
            var g = Randn64(10 + (ulong)step, 3, 5);
            a.Grad = g;
            reference.Grad = g.Clone();
            // B has no gradient, so it keeps its orthonormal columns through every step.
            adamWr.Step();
            adam.Step();
        }
        AssertClose(reference.ToDoubleArray(), a.ToDoubleArray(), 1e-12);
        Assert.True(MaxAbs(reference.ToDoubleArray(), Randn64(6, 3, 5).ToDoubleArray()) > 1e-3, "A did not move");
    }

    [Fact]
    public void Delta_IsAddedToTheGramBeforeInverting()
    {
        var a = Param(Randn64(1, 2, 4));
        var b = Param(Randn64(2, 3, 2));
        var ga = Randn64(3, 2, 4);
        const double delta = 0.7;
        // (BᵀB + δI)⁻¹ by the 2 × 2 formula.
        double[] bv = b.ToDoubleArray();
        double g00 = bv[0] * bv[0] + bv[2] * bv[2] + bv[4] * bv[4] + delta, g11 = bv[1] * bv[1] + bv[3] * bv[3] + bv[5] * bv[5] + delta;
        double g01 = bv[0] * bv[1] + bv[2] * bv[3] + bv[4] * bv[5], det = g00 * g11 - g01 * g01;
        double[] inv = [g11 / det, -g01 / det, -g01 / det, g00 / det];
        var expected = NaiveProduct(inv, ga.ToDoubleArray(), 2, 2, 4);
        var (pa, _) = Optimizer(a, b, delta: delta).Precondition(new LowRankFactorPair(a, b), ga, null);
        AssertClose(expected, pa!.ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void GramAtZero_IsReplacedByTheIdentity()
    {
        var a = Param(Randn64(1, 2, 4));
        var b = Param(Tensor.Zeros([3, 2], DType.Float64));
        var ga = Randn64(3, 2, 4);
        var (pa, _) = Optimizer(a, b).Precondition(new LowRankFactorPair(a, b), ga, null);
        Assert.Equal(ga.ToDoubleArray(), pa!.ToDoubleArray());
    }

    [Fact]
    public void WholeFactors_GiveTheGram_WhileOnlyTheTrainedPartsMove()
    {
        // Preconditioning acts on A's columns independently: the trained columns' Ĝ equal those of the whole gradient.
        var fullA = Randn64(1, 2, 6);
        var fullB = Randn64(2, 5, 2);
        var gFull = Randn64(3, 2, 6);
        var a = Param(fullA.Narrow(1, 3, 3).Contiguous());
        var b = Param(fullB.Narrow(0, 2, 3).Contiguous());
        var whole = Optimizer(Param(fullA.Clone()), Param(fullB.Clone())).Precondition(new LowRankFactorPair(fullA, fullB), gFull, null).A!;
        var part = Optimizer(a, b).Precondition(new LowRankFactorPair(a, b, () => fullA, () => fullB), gFull.Narrow(1, 3, 3).Contiguous(), null).A!;
        AssertClose(whole.Narrow(1, 3, 3).Contiguous().ToDoubleArray(), part.ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void Refuses_APairOutsideTheGroups_ARankMismatch_AndASingularGramWithoutDelta()
    {
        var a = Param(Randn64(1, 2, 4));
        var b = Param(Randn64(2, 3, 2));
        var other = Param(Randn64(3, 3, 2));
        Assert.Contains("no parameter group", Assert.Throws<ArgumentException>(() => new AdamWr([new ParamGroup([a], 0.1)], [new LowRankFactorPair(a, b)])).Message);
        Assert.Contains("rank", Assert.Throws<ArgumentException>(() => new AdamWr([new ParamGroup([a, other], 0.1)], [new LowRankFactorPair(a, Param(Randn64(4, 3, 3)))])).Message);
        Assert.Contains("delta", Assert.Throws<ArgumentException>(() => Optimizer(a, b, delta: -1)).Message);
        // B of rank 1 in a rank-2 pair: BᵀB is singular.
        var singular = Param(Tensor.FromArray(new double[] { 1, 1, 2, 2, 3, 3 }, [3, 2]));
        var e = Assert.Throws<ArgumentException>(() => Optimizer(a, singular).Precondition(new LowRankFactorPair(a, singular), Randn64(5, 2, 4), null));
        Assert.Contains("δ", e.Message);
    }

    static double MaxAbs(double[] x, double[] y) => x.Zip(y, (p, q) => Math.Abs(p - q)).Max();
}
