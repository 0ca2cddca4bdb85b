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

    [Fact]
    public void SliceGradients_AddedInPlace_EqualTheRulesEmbeddedInZeros()
    {
        // Selects and stepped slices of one tensor, overlapping, mixed with whole-tensor uses before and after them and
        // with an input whose gradient aliases another's (Add hands the same gradient to both operands). Without
        // createGraph the engine adds slice gradients in place; with it, every rule runs as written.
        var x = Tensor.Randn([4, 6, 3], dtype: DType.Float64, generator: new Generator(3)).RequireGrad();
        var y = Tensor.Randn([4, 6, 3], dtype: DType.Float64, generator: new Generator(4)).RequireGrad();
        Tensor Loss()
        {
            var sum = x + y;
            var total = (sum * sum).Sum();
            for (int i = 0; i < 4; i++) total = total + (sum.Select(0, i) * (i + 1)).Square().Sum();
            total = total + sum.Slice(1, 1, 6, 2).Exp().Sum() + x.Narrow(2, 1, 2).Sin().Sum() + sum.Narrow(1, 0, 0).Sum();
            return total;
        }
        var inPlace = Autograd.Grad(Loss(), [x, y]);
        var asWritten = Autograd.Grad(Loss(), [x, y], createGraph: true);
        for (int k = 0; k < 2; k++)
        {
            var (expected, actual) = (asWritten[k].ToArray<double>(), inPlace[k].ToArray<double>());
            for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 12);
        }
    }

    [Fact]
    public void SliceGradient_AddedInPlace_LeavesAGradientSharedWithAnotherInputIntact()
    {
        // Backward reaches the Add first, which hands one gradient tensor to both a and b; b's slice comes after and
        // must not write into the tensor that is also a's (whole) gradient.
        var a = Leaf([1, 2, 3, 4], 2, 2);
        var b = Leaf([5, 6, 7, 8], 2, 2);
        var loss = b.Select(0, 1).Square().Sum() + ((a + b) * 3).Sum();
        var grads = Autograd.Grad(loss, [a, b]);
        Assert.Equal(new double[] { 3, 3, 3, 3 }, grads[0].ToArray<double>());
        Assert.Equal(new double[] { 3, 3, 3 + 2 * 7, 3 + 2 * 8 }, grads[1].ToArray<double>());
    }
}
