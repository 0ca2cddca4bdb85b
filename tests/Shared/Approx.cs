using Engine;
using Xunit;

namespace Engine.Tests.Shared;

/// <summary>Closeness assertions shared by the test projects (the file is linked into each one that uses it).</summary>
static class Approx
{
    /// <summary>Each pair agrees to tol * (1 + |expected|).</summary>
    public static void AssertClose(double[] expected, double[] actual, double tol, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i]))))
                Assert.Fail($"{what}[{i}]: expected {expected[i]:G10}, got {actual[i]:G10} (tol {tol})");
    }

    public static void AssertClose(double expected, double actual, double tol, string what = "") => AssertClose([expected], [actual], tol, what);

    /// <summary>Same shape, and values as <see cref="AssertClose(double[], double[], double, string)"/>.</summary>
    public static void AssertClose(Tensor expected, Tensor actual, double tol, string what = "")
    {
        Assert.Equal(expected.Shape, actual.Shape);
        AssertClose(expected.ToDoubleArray(), actual.ToDoubleArray(), tol, what);
    }
}
