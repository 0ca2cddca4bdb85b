using Engine;
using Engine.Autograd;
using Xunit;

namespace Engine.Autograd.Tests;

public class BackwardTests
{
    static Tensor Leaf(double[] values, params int[] shape) => Tensor.FromArray(values, shape).RequireGrad();

    [Fact]
    public void Backward_OfSumOfProduct_GivesTheOtherFactor()
    {
        var x = Leaf([1, 2, 3], 3);
        var y = Leaf([4, 5, 6], 3);
        (x * y).Sum().Backward();
        Assert.Equal(y.ToArray<double>(), x.Grad!.ToArray<double>());
        Assert.Equal(x.ToArray<double>(), y.Grad!.ToArray<double>());
    }

    [Fact]
    public void Backward_ThroughBroadcast_SumsGradientToInputShape()
    {
        var x = Leaf([1, 2, 3, 4, 5, 6], 2, 3);
        var b = Leaf([1, 1, 1], 3);
        (x + b).Sum().Backward();
        Assert.Equal(new double[] { 2, 2, 2 }, b.Grad!.ToArray<double>());
    }

    [Fact]
    public void GradCheck_PassesForComposite()
    {
        var a = Tensor.Randn([3, 4], dtype: DType.Float64);
        var b = Tensor.Randn([4, 2], dtype: DType.Float64);
        var r = GradCheck.Check(x => x[0].MatMul(x[1]).Tanh().Softmax(-1).Log().Sum(0), [a, b]);
        Assert.True(r.Passed, r.Message);
    }

    [Fact]
    public void SecondDerivative_OfCube_IsSixX()
    {
        var x = Leaf([2.0], 1);
        var y = (x * x * x).Sum();
        var g = Autograd.Grad(y, [x], createGraph: true)[0];
        Assert.Equal(12.0, g.Item(), 10);
        var gg = Autograd.Grad(g.Sum(), [x])[0];
        Assert.Equal(12.0, gg.Item(), 10);
    }
}
