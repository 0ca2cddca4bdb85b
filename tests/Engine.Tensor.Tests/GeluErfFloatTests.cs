using Engine.Autograd;
using Xunit;

namespace Engine.Tests;

/// <summary>
/// The vectorised Float32 erf GELU and its derivative against the Float64 path (MathNet's erf) over the whole range,
/// tails, signed zeros and non-finite values as PyTorch gives them.
/// </summary>
public class GeluErfFloatTests
{
    // erfc keeps the negative tail (1 + erf rounds to 0 below about -8).
    static double Phi(double x) => 0.5 * MathNet.Numerics.SpecialFunctions.Erfc(-x / Math.Sqrt(2));

    static float[] Grid()
    {
        var values = new List<float>();
        for (double x = -12; x <= 12; x += 0.0137) values.Add((float)x);
        values.AddRange([0f, -0f, 1e-30f, -1e-30f, 1e-7f, -1e-7f, 3f, -3f]);
        return values.ToArray();
    }

    [Fact]
    public void Forward_matches_the_double_reference_to_a_few_float_roundings()
    {
        var x = Grid();
        var y = Tensor.FromArray(x, [x.Length]).Gelu().ToArray<float>();
        for (int i = 0; i < x.Length; i++)
        {
            double reference = x[i] * Phi(x[i]);
            // The exponent -x^2/2 is rounded to float: relative error grows like x^2 ulp in the tails.
            Assert.True(Math.Abs(y[i] - reference) <= (2e-6 + 2e-7 * x[i] * x[i]) * Math.Abs(reference) + 1e-37,
                $"gelu({x[i]:G9}) = {y[i]:G9}, reference {reference:G9}");
        }
    }

    [Fact]
    public void Derivative_matches_the_double_reference()
    {
        var x = Grid();
        var input = Tensor.FromArray(x, [x.Length]);
        input.RequiresGrad = true;
        input.Gelu().Sum().Backward();
        var grad = input.Grad!.ToArray<float>();
        for (int i = 0; i < x.Length; i++)
        {
            double reference = Phi(x[i]) + x[i] * Math.Exp(-0.5 * x[i] * (double)x[i]) / Math.Sqrt(2 * Math.PI);
            Assert.True(Math.Abs(grad[i] - reference) <= (2e-6 + 2e-7 * x[i] * x[i]) * Math.Abs(reference) + 1e-7,
                $"gelu'({x[i]:G9}) = {grad[i]:G9}, reference {reference:G9}");
        }
    }

    [Fact]
    public void Non_finite_and_huge_inputs_give_what_PyTorch_gives()
    {
        // torch 1.13: gelu([-inf, inf, -1e30, 1e30, nan]) = [nan, inf, 0, 1e30, nan]; gradient [nan, nan, 0, 1, nan].
        var x = new[] { float.NegativeInfinity, float.PositiveInfinity, -1e30f, 1e30f, float.NaN };
        var input = Tensor.FromArray(x, [x.Length]);
        input.RequiresGrad = true;
        var y = input.Gelu();
        y.Sum().Backward();
        Assert.Equal([float.NaN, float.PositiveInfinity, 0f, 1e30f, float.NaN], y.ToArray<float>());
        Assert.Equal([float.NaN, float.NaN, 0f, 1f, float.NaN], input.Grad!.ToArray<float>());
    }
}
