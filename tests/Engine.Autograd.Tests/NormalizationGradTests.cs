using Engine.Autograd.Testing;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Engine.Autograd.Tests;

/// <summary>The fused LayerNorm: its fused backward, and the composite one used when a graph is built, against finite differences and each other.</summary>
public class NormalizationGradTests
{
    static Gen<(StridedInput X, Tensor W, Tensor B)> Inputs3 =>
        Inputs.Any(minRank: 1).SelectMany(x =>
        {
            int c = x.Value.Shape[^1];
            return Gen.Zip(TensorGen.Float64([c], 0.5, 1.5), TensorGen.Float64([c])).Select(wb => (x, wb.Item1, wb.Item2));
        });

    [Fact]
    public void LayerNorm_InInputWeightAndBias_MatchesFiniteDifferences()
        => GradProperty.ForAll(Inputs3, p =>
            GradProperty.Check(t => p.X.View(t[0]).LayerNorm(t[1], t[2], 1e-5).Sin(), [p.X.Base, p.W, p.B]));

    [Fact]
    public void LayerNorm_SecondDerivatives_MatchFiniteDifferencesOfTheComposedBackward()
        => GradProperty.ForAll(Inputs3, p =>
            GradProperty.CheckSecondOrder(t => p.X.View(t[0]).LayerNorm(t[1], t[2], 1e-5).Tanh(), [p.X.Base, p.W, p.B]), maxTest: 8);

    [Fact]
    public void LayerNorm_FusedBackward_EqualsTheComposedBackward()
        => GradProperty.ForAll(Inputs3, p =>
        {
            Tensor[] Grads(bool createGraph)
            {
                var leaves = new[] { p.X.Value.Clone().RequireGrad(), p.W.Clone().RequireGrad(), p.B.Clone().RequireGrad() };
                var y = leaves[0].LayerNorm(leaves[1], leaves[2]);
                var weights = Tensor.Randn(y.Shape, dtype: DType.Float64, generator: new Generator(3));
                return Autograd.Grad((y * weights).Sum(), leaves, createGraph: createGraph);
            }
            var (fused, composed) = (Grads(false), Grads(true));
            for (int i = 0; i < 3; i++)
            {
                var diff = (fused[i] - composed[i].Detach()).Abs().Max().Item();
                Assert.True(diff < 1e-10, $"gradient {i} differs by {diff}");
            }
        });

    [Fact]
    public void LayerNorm_MatchesTheComposedFormula()
    {
        var x = Tensor.Randn([3, 5, 7], dtype: DType.Float64, generator: new Generator(1));
        var w = Tensor.Randn([7], dtype: DType.Float64, generator: new Generator(2));
        var b = Tensor.Randn([7], dtype: DType.Float64, generator: new Generator(3));
        var centered = x - x.Mean(-1, keepDim: true);
        var expected = centered * (centered.Square().Mean(-1, keepDim: true) + 1e-5).Rsqrt() * w + b;
        Assert.True((x.LayerNorm(w, b) - expected).Abs().Max().Item() < 1e-12);
    }
}
