using Xunit;
using static Engine.Autograd.Tests.Assertions;

namespace Engine.Autograd.Tests;

/// <summary>Gradients of gradients (createGraph: true) against closed forms, and GradCheck.CheckSecondOrder on smooth ops.</summary>
public class HigherOrderGradTests
{
    static readonly double[] Points = [-1.3, -0.2, 0.4, 1.7];

    // For an elementwise f, the gradient of sum(f'(x)) is f''(x).
    static Tensor SecondDerivative(Func<Tensor, Tensor> f, Tensor x)
    {
        var first = Autograd.Grad(f(x).Sum(), [x], createGraph: true)[0];
        return Autograd.Grad(first.Sum(), [x])[0];
    }

    [Fact]
    public void SecondDerivative_OfSin_IsMinusSin()
        => Close(Points.Select(v => -Math.Sin(v)).ToArray(), SecondDerivative(x => x.Sin(), Leaf(Points)));

    [Fact]
    public void SecondDerivative_OfExpOfTwoX_IsFourExpOfTwoX()
        => Close(Points.Select(v => 4 * Math.Exp(2 * v)).ToArray(), SecondDerivative(x => (x * 2).Exp(), Leaf(Points)));

    [Fact]
    public void SecondDerivative_OfCube_IsSixX()
        => Close(Points.Select(v => 6 * v).ToArray(), SecondDerivative(x => x * x * x, Leaf(Points)));

    [Fact]
    public void ThirdDerivative_OfCube_IsSix()
    {
        var x = Leaf(Points);
        var d1 = Autograd.Grad(x.Pow(3.0).Sum(), [x], createGraph: true)[0];
        var d2 = Autograd.Grad(d1.Sum(), [x], createGraph: true)[0];
        var d3 = Autograd.Grad(d2.Sum(), [x])[0];
        Close([6, 6, 6, 6], d3);
    }

    [Fact]
    public void MixedPartial_OfXSquaredYCubed_IsSixXYSquared()
    {
        var x = Leaf(1.5);
        var y = Leaf(-0.7);
        var f = (x.Square() * y.Pow(3.0)).Sum();
        var dfdx = Autograd.Grad(f, [x], createGraph: true)[0];
        Close([2 * 1.5 * Math.Pow(-0.7, 3)], dfdx);
        var d2 = Autograd.Grad(dfdx.Sum(), [y])[0];
        Close([6 * 1.5 * 0.49], d2);
    }

    [Fact]
    public void HessianVectorProduct_OfQuadraticForm_IsASymmetrisedTimesV()
    {
        double[,] a = { { 1, 2, -1 }, { 0.5, -3, 4 }, { 2, 0, 1.5 } };
        double[] v = [0.3, -1, 2];
        var A = Tensor.FromArray(a);
        var x = Leaf(0.7, -0.4, 1.1);
        var f = x.MatMul(A.MatMul(x)); // x^T A x
        var g = Autograd.Grad(f, [x], createGraph: true)[0];
        var hvp = Autograd.Grad((g * Tensor.FromArray(v)).Sum(), [x])[0];
        var expected = new double[3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) expected[i] += (a[i, j] + a[j, i]) * v[j];
        Close(expected, hvp);
    }

    static Tensor Random(params int[] shape) => Tensor.Randn(shape, dtype: DType.Float64, generator: new Engine.Generator(7));

    [Fact] public void SecondOrder_OfTanh_MatchesFiniteDifferences() => GradProperty.CheckSecondOrder(x => x[0].Tanh(), [Random(3, 4)]);
    [Fact] public void SecondOrder_OfSoftmax_MatchesFiniteDifferences() => GradProperty.CheckSecondOrder(x => x[0].Softmax(-1), [Random(3, 4)]);
    [Fact] public void SecondOrder_OfMatMul_MatchesFiniteDifferences() => GradProperty.CheckSecondOrder(x => x[0].MatMul(x[1]).Square(), [Random(2, 3), Random(3, 4) * 0.5]);
    [Fact] public void SecondOrder_OfGelu_MatchesFiniteDifferences() => GradProperty.CheckSecondOrder(x => x[0].Gelu() + x[0].Gelu(tanhApproximation: true), [Random(2, 5)]);
    [Fact] public void SecondOrder_OfSilu_MatchesFiniteDifferences() => GradProperty.CheckSecondOrder(x => x[0].Silu(), [Random(2, 5)]);
    [Fact] public void SecondOrder_OfLogSumExp_MatchesFiniteDifferences() => GradProperty.CheckSecondOrder(x => x[0].LogSumExp(-1), [Random(3, 4)]);
    [Fact] public void SecondOrder_OfSolveTriangular_MatchesFiniteDifferences() => GradProperty.CheckSecondOrder(x => Tensor.SolveTriangular(x[0], x[1], upper: false), [Random(3, 3) * 0.3 + Tensor.Eye(3, dtype: DType.Float64) * 2, Random(3, 2)]);
    [Fact] public void SecondOrder_OfVandermondeProduct_MatchesFiniteDifferences() => GradProperty.CheckSecondOrder(x => Tensor.VandermondeProduct(x[0], x[1], 9), [Random(2, 3, 2), Random(2, 3, 2) * 0.1 - 0.05]);
    [Fact] public void SecondOrder_OfCausalConvolution_MatchesFiniteDifferences() => GradProperty.CheckSecondOrder(x => x[0].CausalConvolution(x[1]).Square(), [Random(2, 6), Random(2, 4)]);
}
