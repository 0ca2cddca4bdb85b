using Engine.Autograd;
using Xunit;

namespace Engine.Tests;

/// <summary>
/// The fused Float32 tanh GELU (x sigmoid(2u) with the engine's own exp) and its derivative against the tanh formula in
/// Float64 over the whole range, tails, signed zeros, vector tails and non-finite values as PyTorch gives them.
/// </summary>
public class GeluTanhFloatTests
{
    const double C = 0.7978845608028654, K = 0.044715;

    static double U(double x) => C * (x + K * x * x * x);

    static float[] Grid()
    {
        var values = new List<float>();
        for (double x = -12; x <= 12; x += 0.0137) values.Add((float)x);
        // 1757 grid points plus these: 16- and 8-lane vectors and a scalar tail all run.
        values.AddRange([0f, -0f, 1e-30f, -1e-30f, 1e-7f, -1e-7f, 3f, -3f, -9.4f, -9.5f]);
        return values.ToArray();
    }

    // The argument 2u is rounded to float and exp's relative error grows with it: a few float roundings times |2u|.
    static double Tolerance(double x, double reference, double absolute) =>
        (2e-6 + 3e-7 * Math.Abs(2 * U(x))) * Math.Abs(reference) + absolute;

    [Fact]
    public void Forward_matches_the_double_reference_to_a_few_float_roundings()
    {
        var x = Grid();
        var y = Tensor.FromArray(x, [x.Length]).Gelu(tanhApproximation: true).ToArray<float>();
        for (int i = 0; i < x.Length; i++)
        {
            // 0.5 x (1 + tanh u) = x / (1 + e^(-2u)); the second keeps the negative tail, where 1 + tanh u rounds to 0 even in double.
            double reference = x[i] / (1 + Math.Exp(-2 * U(x[i])));
            Assert.True(Math.Abs(y[i] - reference) <= Tolerance(x[i], reference, 1e-37), $"gelu_tanh({x[i]:G9}) = {y[i]:G9}, reference {reference:G9}");
        }
    }

    [Fact]
    public void Derivative_matches_the_double_reference()
    {
        var x = Grid();
        var input = Tensor.FromArray(x, [x.Length]);
        input.RequiresGrad = true;
        input.Gelu(tanhApproximation: true).Sum().Backward();
        var grad = input.Grad!.ToArray<float>();
        for (int i = 0; i < x.Length; i++)
        {
            double t = Math.Tanh(U(x[i]));
            double reference = 0.5 * (1 + t) + 0.5 * x[i] * (1 - t * t) * C * (1 + 3 * K * x[i] * x[i]);
            Assert.True(Math.Abs(grad[i] - reference) <= Tolerance(x[i], reference, 1e-7), $"gelu_tanh'({x[i]:G9}) = {grad[i]:G9}, reference {reference:G9}");
        }
    }

    [Fact]
    public void Non_finite_and_huge_inputs_give_what_PyTorch_gives()
    {
        // torch 1.13, gelu(approximate='tanh') of [-inf, inf, -1e30, 1e30, nan, -20]: [nan, inf, -0, 1e30, nan, -0];
        // gradient [nan, nan, nan, nan, nan, 0] (0 times the infinite slope of u at +-1e30).
        var x = new[] { float.NegativeInfinity, float.PositiveInfinity, -1e30f, 1e30f, float.NaN, -20f };
        var input = Tensor.FromArray(x, [x.Length]);
        input.RequiresGrad = true;
        var y = input.Gelu(tanhApproximation: true);
        y.Sum().Backward();
        Assert.Equal([float.NaN, float.PositiveInfinity, -0f, 1e30f, float.NaN, -0f], y.ToArray<float>());
        Assert.Equal([float.NaN, float.NaN, float.NaN, float.NaN, float.NaN, 0f], input.Grad!.ToArray<float>());
    }
}
