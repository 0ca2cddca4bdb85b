using Xunit;

namespace Engine.Tests.Fft;

/// <summary>
/// The Vandermonde product y[l] = sum_n Re(c_n exp(l w_n)) against the sum straight from its definition (one complex
/// exponential per term, in double), over lengths that are and are not multiples of the kernel's block of 64, decaying
/// and oscillating modes, broadcast operands and both floating dtypes; and its adjoint sums the same way.
/// </summary>
public class VandermondeProductTests
{
    static double[] Naive(double[] c, double[] w, int rows, int modes, int length)
    {
        var y = new double[rows * length];
        for (int r = 0; r < rows; r++)
            for (int l = 0; l < length; l++)
                for (int n = 0; n < modes; n++)
                {
                    int at = 2 * (r * modes + n);
                    double magnitude = Math.Exp(l * w[at]), angle = l * w[at + 1];
                    y[r * length + l] += magnitude * (c[at] * Math.Cos(angle) - c[at + 1] * Math.Sin(angle));
                }
        return y;
    }

    // Modes like S4D's: real parts in [-0.5, -1e-3] (decaying), imaginary parts up to 3.
    static (Tensor C, Tensor W) Inputs(int rows, int modes, DType dtype, ulong seed)
    {
        var gen = new Generator(seed);
        var c = Tensor.Randn([rows, modes, 2], dtype: dtype, generator: gen);
        var re = Tensor.Rand([rows, modes, 1], -0.5, -1e-3, dtype, generator: gen);
        var im = Tensor.Rand([rows, modes, 1], -3, 3, dtype, generator: gen);
        return (c, Tensor.Concat([re, im], -1));
    }

    static void AssertClose(double[] expected, double[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * Math.Max(1, Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {actual[i]}");
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 4, 63)]
    [InlineData(2, 5, 64)]
    [InlineData(2, 3, 65)]
    [InlineData(4, 8, 1000)]
    public void VandermondeProduct_MatchesTheSumOfExponentials(int rows, int modes, int length)
    {
        var (c, w) = Inputs(rows, modes, DType.Float64, (ulong)(rows * 100 + length));
        var expected = Naive(c.ToArray<double>(), w.ToArray<double>(), rows, modes, length);
        var y = Tensor.VandermondeProduct(c, w, length);
        Assert.Equal(new[] { rows, length }, y.Shape);
        AssertClose(expected, y.ToArray<double>(), 1e-11);
        var y32 = Tensor.VandermondeProduct(c.To(DType.Float32), w.To(DType.Float32), length);
        Assert.Equal(DType.Float32, y32.DType);
        var expected32 = Naive(c.To(DType.Float32).ToDoubleArray(), w.To(DType.Float32).ToDoubleArray(), rows, modes, length);
        AssertClose(expected32, y32.ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void VandermondeProduct_BroadcastsAndReadsStridedPairs()
    {
        var (c, w) = Inputs(3, 4, DType.Float64, 7);
        var stridedW = w.Permute(1, 0, 2).Contiguous().Permute(1, 0, 2); // same values, non-contiguous
        var y = Tensor.VandermondeProduct(c.Unsqueeze(0).Expand(2, 3, 4, 2), stridedW, 70);
        Assert.Equal(new[] { 2, 3, 70 }, y.Shape);
        var expected = Naive(c.ToArray<double>(), w.ToArray<double>(), 3, 4, 70);
        AssertClose([.. expected, .. expected], y.ToArray<double>(), 1e-11);
    }

    [Fact]
    public void VandermondeAdjoint_MatchesItsDefinition()
    {
        const int rows = 2, modes = 3, length = 150;
        var (_, w) = Inputs(rows, modes, DType.Float64, 11);
        var g = Tensor.Randn([rows, length], dtype: DType.Float64, generator: new Generator(12));
        var (s0, s1) = Tensor.VandermondeAdjoint(g, w);
        var (gv, wv) = (g.ToArray<double>(), w.ToArray<double>());
        var (e0, e1) = (new double[rows * modes * 2], new double[rows * modes * 2]);
        for (int r = 0; r < rows; r++)
            for (int n = 0; n < modes; n++)
                for (int l = 0; l < length; l++)
                {
                    int at = 2 * (r * modes + n);
                    double magnitude = Math.Exp(l * wv[at]), angle = l * wv[at + 1], gl = gv[r * length + l];
                    e0[at] += gl * magnitude * Math.Cos(angle);
                    e0[at + 1] += gl * magnitude * Math.Sin(angle);
                    e1[at] += l * gl * magnitude * Math.Cos(angle);
                    e1[at + 1] += l * gl * magnitude * Math.Sin(angle);
                }
        AssertClose(e0, s0.ToArray<double>(), 1e-11);
        AssertClose(e1, s1.ToArray<double>(), 1e-11);
    }

    [Fact]
    public void VandermondeProduct_OfMismatchedModes_NamesTheOpAndShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.VandermondeProduct(Tensor.Zeros([2, 3, 2]), Tensor.Zeros([2, 4, 2]), 5));
        Assert.Contains("VandermondeProduct", ex.Message);
        Assert.Contains("c [2,3,2]", ex.Message);
        Assert.Contains("w [2,4,2]", ex.Message);
    }
}
