using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Engine.Nn.Tests.Optim;

/// <summary>
/// The weight-decay width rule (structure-and-optimizers.md §3.2) and its diagnostic: the rule's scaling laws
/// (oracle i), the AdamW equilibrium it rests on (oracle ii, a derivation: ‖W‖_F² ≈ ηD/(2λ) under ±1 updates), and the
/// power-iteration top singular value against MathNet's SVD.
/// </summary>
public class WidthScalingTests
{
    [Fact]
    public void MatrixRule_ScalesEtaLambdaAsInverseRootWidth_AndEtaOverLambdaAsWidthToMinusThreeHalves()
    {
        var (lr0, wd0) = WidthScaling.MatrixRule(0.01, 0.1, 64, 64);
        Assert.Equal((0.01, 0.1), (lr0, wd0));
        foreach (int d in new[] { 128, 256, 1024 })
        {
            var (lr, wd) = WidthScaling.MatrixRule(0.01, 0.1, 64, d);
            double r = d / 64.0;
            Assert.Equal(lr0 * wd0 * Math.Pow(r, -0.5), lr * wd, 15);
            Assert.Equal(lr0 / wd0 * Math.Pow(r, -1.5), lr / wd, 15);
            // So the top singular value's law √(η/λ)·d^{0.75} is width-invariant.
            Assert.Equal(Math.Sqrt(lr0 / wd0) * Math.Pow(64, 0.75), Math.Sqrt(lr / wd) * Math.Pow(d, 0.75), 12);
        }
    }

    [Fact]
    public void Groups_ScaleOnlyTheHiddenMatrices_AndDecayNoVector()
    {
        var model = new Gpt(new GptConfig(VocabSize: 7, ContextLength: 4, DModel: 16, Layers: 1, Heads: 2, TiedHead: false), new Generator(1));
        var groups = WidthScaling.Groups(model, 0.01, 0.1, 8, 16).ToDictionary(g => g.Name);
        Assert.Equal(0.005, groups["hidden"].Lr, 15);
        Assert.Equal(0.1 * Math.Sqrt(2), groups["hidden"].WeightDecay, 15);
        Assert.All(groups["hidden"].Parameters, p => Assert.Equal(2, p.Rank));
        Assert.Equal((0.01, 0.0), (groups["vector"].Lr, groups["vector"].WeightDecay));
        Assert.All(groups["vector"].Parameters, p => Assert.Equal(1, p.Rank));
        Assert.Contains(groups["other_decay"].Parameters, p => ReferenceEquals(p, model.NamedParameters().Single(n => n.Name == "head.weight").Parameter));
        Assert.Equal(model.Parameters().Count(), groups.Values.Sum(g => g.Parameters.Count));
    }

    [Fact]
    public void AdamW_UnderRandomSignGradients_SettlesAtTheDerivedFrobeniusNorm()
    {
        // β1 = 0 and i.i.d. ±1 gradients: u ≈ ±1 per entry, W ← (1−ηλ)W − ηu, so E‖W‖² → D η²/(1−(1−ηλ)²) ≈ ηD/(2λ).
        const double lr = 0.02, wd = 0.2;
        const int d = 256;
        var w = Tensor.Zeros([16, 16], DType.Float64).RequireGrad();
        var optimizer = new AdamW([new ParamGroup([w], lr, wd)], beta1: 0, beta2: 0.999);
        var generator = new Generator(7);
        int steps = (int)(6 / (lr * wd));
        double sum = 0;
        int counted = 0;
        for (int t = 0; t < steps; t++)
        {
            w.Grad = Tensor.Randint(0, 2, [16, 16], generator: generator).To(DType.Float64) * 2 - 1;
            optimizer.Step();
            if (t >= steps - 500) { sum += w.Square().Sum().Item(); counted++; }
        }
        double expected = lr * d / (2 * wd);
        Assert.InRange(sum / counted, 0.95 * expected, 1.05 * expected);
    }

    [Fact]
    public void TopSingularValue_MatchesMathNetsSvd()
    {
        var random = new Random(11);
        var a = Matrix<double>.Build.Dense(12, 7, (_, _) => random.NextDouble() - 0.5);
        var s = a.Svd(computeVectors: false).S;
        // A random spectrum: the error shrinks as (s2/s1)^(2k), so 200 iterations reach 1e-6 here.
        double sigma = WidthScaling.TopSingularValue(Tensor.FromArray(a.ToRowMajorArray(), [12, 7]), 200);
        Assert.Equal(s[0], sigma, 6);
        Assert.True(s[0] > s[1], "the test needs a strict top singular value");
    }

    [Fact]
    public void TopSingularValue_RefusesAVector()
    {
        var e = Assert.Throws<ArgumentException>(() => WidthScaling.TopSingularValue(Tensor.Zeros([3])));
        Assert.Contains("[3]", e.Message);
    }
}
