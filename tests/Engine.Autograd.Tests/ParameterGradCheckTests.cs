using Xunit;

namespace Engine.Autograd.Tests;

public class ParameterGradCheckTests
{
    sealed class WrongSquare : Function
    {
        protected override Tensor Forward(FunctionContext ctx, Tensor[] x)
        {
            ctx.SaveForBackward(x[0]);
            return x[0] * x[0];
        }

        // d(x^2)/dx is 2x; 3x is wrong on purpose.
        protected override Tensor?[] Backward(FunctionContext ctx, Tensor g) => [g * 3 * ctx.SavedTensors[0]];
    }

    [Fact]
    public void CheckParameters_PassesForCorrectGradientsOfClosedOverParameters()
    {
        var w = Tensor.Randn([3, 2], dtype: DType.Float64, generator: new Generator(1)).RequireGrad();
        var b = Tensor.Randn([2], dtype: DType.Float64, generator: new Generator(2)).RequireGrad();
        var x = Tensor.Randn([4, 3], dtype: DType.Float64, generator: new Generator(3));
        var result = GradCheck.CheckParameters(() => (x.MatMul(w) + b).Tanh(), [("w", w), ("b", b)]);
        Assert.True(result.Passed, result.Message);
        // The parameters are restored after the perturbations.
        Assert.Equal(Tensor.Randn([3, 2], dtype: DType.Float64, generator: new Generator(1)).ToArray<double>(), w.ToArray<double>());
    }

    [Fact]
    public void CheckParameters_NamesTheParameterWithAWrongGradient()
    {
        var w = Tensor.Randn([5], dtype: DType.Float64, generator: new Generator(4)).RequireGrad();
        var result = GradCheck.CheckParameters(() => new WrongSquare().Apply(w), [("weight", w)]);
        Assert.False(result.Passed);
        Assert.Contains("parameter 'weight'", result.Message);
    }

    [Fact]
    public void CheckParameters_RefusesFloat32Parameters()
    {
        var w = Tensor.Randn([2]).RequireGrad();
        var result = GradCheck.CheckParameters(() => w * 2, [("w", w)]);
        Assert.False(result.Passed);
        Assert.Contains("not Float64", result.Message);
    }
}

public class GradCheckPrecisionTests
{
    [Fact]
    public void Check_ResolvesASmallDerivativeBesideALargeUnrelatedOutput()
    {
        // exp(12) ~ 1.6e5 next to exp(-6) ~ 2.5e-3: projecting the outputs before differencing loses the small
        // derivative in rounding; differencing each output first keeps it exact.
        var x = Tensor.FromArray(new double[] { 12, -6, 13, -7 }, [4]);
        for (ulong seed = 0; seed < 20; seed++)
        {
            var r = GradCheck.Check(t => t[0].Exp(), [x], new GradCheckOptions(Seed: seed));
            Assert.True(r.Passed, r.Message);
        }
    }
}
