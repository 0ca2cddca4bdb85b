using Xunit;
using static Engine.Autograd.Tests.Assertions;

namespace Engine.Autograd.Tests;

/// <summary>
/// At the points where a derivative does not exist (zeros, ties, constants) the gradient is the one PyTorch defines,
/// checked against closed forms: never NaN where PyTorch gives a number.
/// </summary>
public class SubgradientTests
{
    static Tensor GradOf(Tensor x, Func<Tensor, Tensor> f)
    {
        Autograd.Backward(f(x));
        return x.Grad!;
    }

    [Fact]
    public void Norm2_AtZero_HasGradientZero()
    {
        Close([0, 0, 0], GradOf(Leaf(0, 0, 0), x => x.Norm(2)));
        Close([0.6, 0.8], GradOf(Leaf(3, 4), x => x.Norm(2))); // x / |x| away from zero
    }

    [Fact]
    public void Norm2_OverRows_ZeroRowGetsZero_OtherRowsGetXOverNorm()
    {
        var x = Tensor.FromArray(new double[,] { { 0, 0 }, { 3, 4 } }).RequireGrad();
        Close([0, 0, 0.6, 0.8], GradOf(x, t => t.Norm(2, [1]).Sum()));
    }

    [Fact]
    public void Prod_WithOneZero_GivesTheProductOfTheOthersAtTheZero()
        => Close([0, 0, 2 * 3 * 4, 0], GradOf(Leaf(2, 3, 0, 4), x => x.Prod()));

    [Fact]
    public void Prod_WithTwoZeros_HasGradientZero_AndWithoutZeros_ProdOverX()
    {
        Close([0, 0, 0, 0], GradOf(Leaf(2, 0, 0, 4), x => x.Prod()));
        Close([12, 8, 6], GradOf(Leaf(2, 3, 4), x => x.Prod()));
    }

    [Fact]
    public void Prod_AlongADimension_HandlesZerosPerSlice()
    {
        var x = Tensor.FromArray(new double[,] { { 2, 0, 5 }, { 1, 2, 3 }, { 0, 0, 7 } }).RequireGrad();
        Close([0, 10, 0, 6, 3, 2, 0, 0, 0], GradOf(x, t => t.Prod(1).Sum()));
    }

    [Fact]
    public void Prod_WithRandomZeros_MatchesTheProductOfTheOthers()
    {
        var random = new Random(12);
        for (int trial = 0; trial < 50; trial++)
        {
            var v = Enumerable.Range(0, 5).Select(_ => random.Next(3) == 0 ? 0 : random.NextDouble() * 2 - 1).ToArray();
            var expected = v.Select((_, i) => v.Where((_, j) => j != i).Aggregate(1.0, (a, b) => a * b)).ToArray();
            Close(expected, GradOf(Leaf(v), x => x.Prod()), 1e-12);
        }
    }

    [Fact]
    public void PowZero_AtZero_HasGradientZero()
        => Close([0, 0], GradOf(Leaf(0, 2), x => x.Pow(0).Sum()));

    [Fact]
    public void Pow_ExponentGradient_AtZeroBase_IsZeroForNonNegativeExponents_AndFollowsLogForNegative()
    {
        var b = Leaf(2, 0, -1);
        Autograd.Backward(Tensor.FromArray(new double[] { 0, 0, 0 }).Pow(b).Sum());
        var g = b.Grad!.ToDoubleArray();
        Assert.Equal(0, g[0]);
        Assert.Equal(0, g[1]);
        Assert.Equal(double.NegativeInfinity, g[2]); // 0^-1 * ln 0 = inf * -inf, as torch
    }

    [Fact]
    public void StdAndVar_OfAConstant_HaveGradientZero()
    {
        Close([0, 0, 0], GradOf(Leaf(5, 5, 5), x => x.Std()));
        Close([0, 0, 0], GradOf(Leaf(5, 5, 5), x => x.Var()));
        Close([-0.5, 0, 0.5], GradOf(Leaf(1, 2, 3), x => x.Std())); // (x - mean) / ((n - 1) std), std = 1
    }

    [Fact]
    public void MaxAlongADimension_WithTies_SendsTheWholeGradientToTheSelectedIndex()
    {
        var x = Tensor.FromArray(new double[,] { { 1, 3, 3 }, { 2, 2, 0 } }).RequireGrad();
        var (values, indices) = x.Max(1);
        Assert.Equal(new long[] { 1, 0 }, indices.ToArray<long>());
        Autograd.Backward(values.Sum());
        Close([0, 1, 0, 1, 0, 0], x.Grad!);
    }

    [Fact]
    public void MinAlongADimension_WithTies_SendsTheWholeGradientToTheSelectedIndex_KeepDim()
    {
        var x = Tensor.FromArray(new double[,] { { 1, 1, 3 } }).RequireGrad();
        var (values, _) = x.Min(1, keepDim: true);
        Assert.Equal(new[] { 1, 1 }, values.Shape);
        Autograd.Backward(values.Sum());
        Close([1, 0, 0], x.Grad!);
    }
}
