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
