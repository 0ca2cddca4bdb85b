using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

/// <summary>
/// PHM layers (spec structure-and-optimizers.md §4.2 oracles): n = 1 is an ordinary linear layer, the factorised
/// weight equals the sum of explicit Kronecker products (written here as loops), the parameter count is
/// n³ + out·in/n (+ out), the gradients of A and S pass a gradient check, and a bad n is a named error.
/// </summary>
public class PhmLinearTests
{
    // kron(a [p, q], b [s, t]) by its definition: entry (i s + k, j t + l) = a[i, j] b[k, l].
    static double[] NaiveKron(double[] a, int p, int q, double[] b, int s, int t)
    {
        var result = new double[p * s * q * t];
        for (int i = 0; i < p; i++)
            for (int j = 0; j < q; j++)
                for (int k = 0; k < s; k++)
                    for (int l = 0; l < t; l++)
                        result[(i * s + k) * (q * t) + j * t + l] = a[i * q + j] * b[k * t + l];
        return result;
    }

    static PhmLinear Layer(int n, int inF, int outF, bool bias = true)
    {
        var layer = new PhmLinear(n, inF, outF, bias, new Generator(4));
        layer.To(DType.Float64);
        return layer;
    }

    [Theory]
    [InlineData(2, 6, 4)]
    [InlineData(4, 8, 12)]
    [InlineData(3, 9, 3)]
    public void Weight_IsTheSumOfExplicitKroneckerProducts_AndTheForwardUsesIt(int n, int inF, int outF)
    {
        var layer = Layer(n, inF, outF);
        int p = outF / n, q = inF / n;
        var a = layer.A.ToDoubleArray();
        var s = layer.S.ToDoubleArray();
        var expected = new double[outF * inF];
        for (int i = 0; i < n; i++)
        {
            var term = NaiveKron(a[(i * n * n)..((i + 1) * n * n)], n, n, s[(i * p * q)..((i + 1) * p * q)], p, q);
            for (int j = 0; j < term.Length; j++) expected[j] += term[j];
        }
        AssertClose(expected, layer.Weight.ToDoubleArray(), 1e-12);

        var x = Randn64(5, 3, inF);
        var y = NaiveLinear(x.ToDoubleArray(), 3, expected, layer.Bias!.ToDoubleArray(), inF, outF);
        AssertClose(y, layer.Forward(x).ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void WithOneTerm_ItIsAnOrdinaryLinearLayer()
    {
        var layer = Layer(1, 5, 3);
        var linear = new Linear(5, 3);
        linear.To(DType.Float64);
        using (Autograd.Autograd.NoGrad())
        {
            linear.Weight.CopyFrom(layer.S.Reshape(3, 5) * layer.A.Reshape(1, 1));
            linear.Bias!.CopyFrom(layer.Bias!);
        }
        var x = Randn64(6, 2, 4, 5);
        AssertClose(linear.Forward(x).ToDoubleArray(), layer.Forward(x).ToDoubleArray(), 1e-12);
        Assert.Equal([1, 1, 1], layer.A.Shape);
        Assert.Equal([1, 3, 5], layer.S.Shape);
    }

    [Theory]
    [InlineData(4, 16, 8, true)]
    [InlineData(2, 6, 10, false)]
    [InlineData(1, 7, 3, true)]
    public void ParameterCount_IsNCubedPlusOutTimesInOverN(int n, int inF, int outF, bool bias)
    {
        var layer = new PhmLinear(n, inF, outF, bias);
        long expected = (long)n * n * n + (long)outF * inF / n + (bias ? outF : 0);
        Assert.Equal(expected, layer.ParameterCount());
        Assert.Equal(expected, PhmLinear.ParameterCountFor(n, inF, outF, bias));
        // Fewer than the dense layer's weights (about 1/n of them once the widths are well above n).
        if (n > 1) Assert.True(layer.ParameterCount() < new Linear(inF, outF, bias).ParameterCount());
    }

    [Fact]
    public void GradientsOfRulesBlocksAndBias_PassTheGradientCheck()
    {
        var layer = Layer(2, 4, 6);
        var x = Randn64(7, 3, 4);
        AssertParameterGradients(layer, () => layer.Forward(x), perTensor: 64);
    }

    [Theory]
    [InlineData(3, 8, 6)]
    [InlineData(4, 8, 6)]
    [InlineData(0, 8, 8)]
    public void AnNThatDoesNotDivideTheWidths_IsANamedError(int n, int inF, int outF)
    {
        var e = Assert.Throws<ArgumentException>(() => new PhmLinear(n, inF, outF));
        Assert.Contains("PhmLinear: n", e.Message);
    }

    [Fact]
    public void KroneckerSum_RefusesMismatchedTermCounts() =>
        Assert.Throws<ArgumentException>(() => PhmLinear.KroneckerSum(Tensor.Zeros(2, 2, 2), Tensor.Zeros(3, 2, 2)));
}
