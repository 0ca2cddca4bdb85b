using Xunit;

namespace Engine.Autograd.Tests;

static class Assertions
{
    /// <summary>Asserts elementwise agreement of a tensor's values with expected doubles to within <paramref name="tolerance"/>.</summary>
    public static void Close(double[] expected, Tensor actual, double tolerance = 1e-10)
    {
        var values = actual.ToDoubleArray();
        Assert.Equal(expected.Length, values.Length);
        for (int i = 0; i < values.Length; i++)
            Assert.True(Math.Abs(expected[i] - values[i]) <= tolerance * (1 + Math.Abs(expected[i])),
                $"element {i}: expected {expected[i]:G17}, got {values[i]:G17}");
    }

    public static Tensor Leaf(params double[] values) => Tensor.FromArray(values).RequireGrad();
}
