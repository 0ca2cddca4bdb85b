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

    // torch 1.13 gives var 2.2e-34 and std 1.5e-17 (gradient 0.154 each) for 0.1 seven times in Float64, and std
    // 8.0e-9 (gradient -0.154) in Float32, because mean(x) is not exactly 0.1 (/usr/bin/python3: torch.full((7,), 0.1,
    // requires_grad=True).std().backward()). The engine shifts by the first element first, so a constant is exact.
    [Theory]
    [InlineData(0.1, 7, DType.Float64)]
    [InlineData(0.1, 7, DType.Float32)]
    [InlineData(1e30, 5, DType.Float64)]
    [InlineData(1e30, 5, DType.Float32)]
    [InlineData(3.0e38, 4, DType.Float32)]
    [InlineData(-7.3, 13, DType.Float32)]
    [InlineData(1e-300, 3, DType.Float64)]
    public void StdAndVar_OfAConstantNotExactlyMeanRepresentable_AreExactlyZero_WithGradientExactlyZero(double value, int n, DType dtype)
    {
        foreach (var reduce in new Func<Tensor, Tensor>[] { t => t.Std(), t => t.Var(), t => t.Std(unbiased: false), t => t.Var([0], keepDim: true) })
        {
            var x = Tensor.Full([n], value, dtype).RequireGrad();
            var y = reduce(x);
            Assert.Equal(0.0, y.ToDoubleArray().Single());
            y.Sum().Backward();
            Assert.All(x.Grad!.ToDoubleArray(), g => Assert.Equal(0.0, g));
        }
    }

    [Fact]
    public void StdAlongRows_ConstantRowsAreExactlyZero_OtherRowsUnchanged()
    {
        var x = Tensor.FromArray(new float[,] { { 0.1f, 0.1f, 0.1f }, { 1, 2, 3 } }).RequireGrad();
        var std = x.Std(1);
        Assert.Equal([0f, 1f], std.ToArray<float>());
        std.Sum().Backward();
        Assert.Equal([0f, 0f, 0f, -0.5f, 0f, 0.5f], x.Grad!.ToArray<float>());
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
