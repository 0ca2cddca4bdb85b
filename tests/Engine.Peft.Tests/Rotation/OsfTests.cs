using Engine.Peft.Rotation;
using Xunit;
using static Engine.Peft.Tests.Subspace.SubspaceTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Rotation;

/// <summary>
/// OSF: a fresh adapter reproduces W from its SVD split; trained with gradient steps, the low factors move only
/// orthogonally to the frozen high subspaces (U_hᵀ ΔU_l = 0, ΔV_l V_hᵀ = 0: the continual-learning guarantee), while
/// evaluation-mode gradients are the exact derivative; the effective rank follows PEFT's rules.
/// </summary>
public class OsfTests
{
    const int InF = 7, OutF = 6;

    static OsfLayer Osf(OsfConfig config) => Layer(l => new OsfLayer(l), InF, OutF, config);

    [Fact]
    public void FreshAdapter_ReconstructsTheWeight_FromAnOrthonormalSplit()
    {
        var layer = Osf(new OsfConfig { EffectiveRank = 2 });
        // The adapter was created on the Float32 layer (then moved to Float64): the low factors hold float32 roundings.
        AssertClose(layer.BaseLayer.Weight.ToDoubleArray(), layer.Reconstruct("a").ToDoubleArray(), 1e-6);
        var (uh, sh, vh) = layer.High("a");
        var low = layer.Low("a");
        Assert.Equal([OutF, 2], uh.Shape);
        Assert.Equal([OutF, 4], low.U.Shape);
        Assert.Equal([4], low.S.Shape);
        Assert.Equal([4, InF], low.V.Shape);
        // [U_h U_l] has orthonormal columns; the frozen singular values are the largest.
        var u = Tensor.Concat([uh, low.U], 1).ToDoubleArray();
        AssertClose(Identity(6), Mul(Transpose(u, OutF, 6), u, 6, OutF, 6), 1e-6);
        Assert.True(sh.ToDoubleArray().Min() >= low.S.ToDoubleArray().Max());
    }

    [Fact]
    public void TrainingSteps_MoveTheLowFactorsOrthogonallyToTheHighSubspaces()
    {
        var layer = Osf(new OsfConfig { EffectiveRank = 3 });
        layer.Train();
        var low = layer.Low("a");
        var (uh, _, vh) = layer.High("a");
        var u0 = low.U.ToDoubleArray();
        var v0 = low.V.ToDoubleArray();
        var x = Randn64(1, 16, InF);
        var target = Randn64(2, 16, OutF);
        // Plain gradient steps keep the projected directions exactly (Adam's elementwise scaling would not).
        var optimizer = new Sgd(low.Parameters(), lr: 0.2, momentum: 0.9);
        for (int step = 0; step < 15; step++)
        {
            optimizer.ZeroGrad();
            (layer.Forward(x) - target).Square().Mean().Backward();
            optimizer.Step();
        }
        var du = Add(low.U.ToDoubleArray(), u0, -1);
        var dv = Add(low.V.ToDoubleArray(), v0, -1);
        Assert.True(du.Max(Math.Abs) > 1e-2 && dv.Max(Math.Abs) > 1e-2, "the low factors did not move");
        int k = 3, n = 3;
        AssertClose(new double[k * n], Mul(Transpose(uh.ToDoubleArray(), OutF, k), du, k, OutF, n), 1e-12, "U_hᵀ ΔU_l");
        AssertClose(new double[n * k], Mul(dv, Transpose(vh.ToDoubleArray(), k, InF), n, InF, k), 1e-12, "ΔV_l V_hᵀ");
        // The high part of the weight is untouched: W' projected on the frozen singular directions is still U_h S_h.
        var w = layer.Reconstruct("a").ToDoubleArray();
        var (_, sh, _) = layer.High("a");
        var expected = Enumerable.Range(0, k * k).Select(i => i / k == i % k ? sh.ToDoubleArray()[i / k] : 0).ToArray();
        var projected = Mul(Mul(Transpose(uh.ToDoubleArray(), OutF, k), w, k, OutF, InF), Transpose(vh.ToDoubleArray(), k, InF), k, InF, k);
        Assert.True(projected.Zip(expected, (a, b) => Math.Abs(a - b)).Max() < 0.05 * sh.ToDoubleArray().Max());
    }

    [Fact]
    public void TrainingGradient_IsTheProjectedDerivative_EvaluationGradientTheExactOne()
    {
        var layer = Osf(new OsfConfig { EffectiveRank = 2 });
        var low = layer.Low("a");
        Scramble(low.U, 3, 0.3);
        Scramble(low.V, 4, 0.3);
        var x = Randn64(5, 4, InF);
        AssertParameterGradients(low, () => layer.Forward(x));
        var (uh, _, vh) = layer.High("a");
        var exact = Autograd.Autograd.Grad(layer.Forward(x).Square().Sum(), [low.U, low.V]);
        layer.Train();
        var projected = Autograd.Autograd.Grad(layer.Forward(x).Square().Sum(), [low.U, low.V]);
        var gu = exact[0].ToDoubleArray();
        var pu = Add(gu, Mul(uh.ToDoubleArray(), Mul(Transpose(uh.ToDoubleArray(), OutF, 2), gu, 2, OutF, 4), OutF, 2, 4), -1);
        AssertClose(pu, projected[0].ToDoubleArray(), 1e-10, "dU");
        var gv = exact[1].ToDoubleArray();
        var pv = Add(gv, Mul(Mul(gv, Transpose(vh.ToDoubleArray(), 2, InF), 4, InF, 2), vh.ToDoubleArray(), 4, 2, InF), -1);
        AssertClose(pv, projected[1].ToDoubleArray(), 1e-10, "dV");
    }

    [Theory]
    [InlineData(null, 3)]   // ⌊min/2⌋
    [InlineData(0.5, 3)]    // a fraction of min(out, in) = 6
    [InlineData(0.7, 4)]    // rounded down
    [InlineData(4.0, 4)]
    public void EffectiveRank_FollowsPeftsRules(double? value, int expected)
    {
        var layer = Osf(new OsfConfig { EffectiveRank = value });
        Assert.Equal(expected, layer.EffectiveRank("a"));
    }

    [Fact]
    public void RankPattern_MatchesAnywhereInThePath_AndAFullRankIsRefused()
    {
        var config = new OsfConfig { EffectiveRank = 2, RankPattern = new Dictionary<string, double> { ["attn"] = 5, ["fc$"] = 0.5 } };
        Assert.Equal(5, config.EffectiveRankFor(new ModulePath("blocks.0.attn.qkv", "transformer.h.0.attn.c_attn"), 8));
        Assert.Equal(4, config.EffectiveRankFor(new ModulePath("blocks.0.mlp.fc", "transformer.h.0.mlp.c_fc"), 8));
        Assert.Equal(2, config.EffectiveRankFor(new ModulePath("blocks.0.mlp.proj", "x"), 8));
        var e = Assert.Throws<ArgumentException>(() => Osf(new OsfConfig { EffectiveRank = 6 }));
        Assert.Contains("no trainable directions", e.Message);
    }
}
