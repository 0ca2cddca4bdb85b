using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests.Fft;

/// <summary>
/// The fused FFT causal convolution against the O(L K) sum straight from its definition, over lengths that exercise
/// every path of the batched FFT (odd and even log2 of the padded length, kernels shorter and longer than the
/// signal, rows that do not fill the SIMD lanes), and the batched FFT itself against the radix-2 one.
/// </summary>
public class CausalConvolutionTests
{
    // y[r, t] = sum_{m <= min(t, K-1)} k[r, m] u[r, t - m], in double, row by row.
    static double[] NaiveCausalConvolution(double[] u, double[] k, int rows, int length, int taps)
    {
        var y = new double[rows * length];
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < length; t++)
            {
                double sum = 0;
                for (int m = 0; m <= Math.Min(t, taps - 1); m++) sum += k[r * taps + m] * u[r * length + t - m];
                y[r * length + t] = sum;
            }
        return y;
    }

    static void AssertClose(double[] expected, double[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Length == 0 ? 1 : Math.Max(1, expected.Max(Math.Abs));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * scale,
                $"element {i}: expected {expected[i]}, got {actual[i]} (tolerance {tolerance} x {scale:G3})");
    }

    public static readonly TheoryData<int, int, int> Sizes = new()
    {
        // rows, signal length L, kernel length K
        { 1, 1, 1 }, { 1, 2, 1 }, { 3, 5, 5 }, { 2, 7, 3 }, { 5, 3, 9 }, { 9, 16, 16 }, { 17, 33, 20 },
        { 4, 64, 64 }, { 11, 100, 7 }, { 2, 127, 128 }, { 8, 513, 513 }, { 3, 1000, 1 }, { 1, 4096, 4096 },
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void CausalConvolution_Float64_MatchesTheDirectSum(int rows, int length, int taps)
    {
        var gen = new Generator((ulong)(rows * 10007 + length * 31 + taps));
        var u = Tensor.Randn([rows, length], dtype: DType.Float64, generator: gen);
        var k = Tensor.Randn([rows, taps], dtype: DType.Float64, generator: gen);
        var expected = NaiveCausalConvolution(u.ToArray<double>(), k.ToArray<double>(), rows, length, taps);
        var y = u.CausalConvolution(k);
        Assert.Equal(new[] { rows, length }, y.Shape);
        Assert.Equal(DType.Float64, y.DType);
        AssertClose(expected, y.ToArray<double>(), 1e-12 * Math.Log2(length + taps + 1) + 1e-14);
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void CausalConvolution_Float32_MatchesTheDirectSum(int rows, int length, int taps)
    {
        var gen = new Generator((ulong)(rows * 7919 + length * 17 + taps));
        var u = Tensor.Randn([rows, length], generator: gen);
        var k = Tensor.Randn([rows, taps], generator: gen);
        var expected = NaiveCausalConvolution(u.ToDoubleArray(), k.ToDoubleArray(), rows, length, taps);
        var y = u.CausalConvolution(k);
        Assert.Equal(DType.Float32, y.DType);
        // Float32 FFT convolution: errors grow like log n times the rounding of the largest products.
        AssertClose(expected, y.ToDoubleArray(), 2e-6 * Math.Log2(length + taps + 1) * Math.Sqrt(Math.Min(length, taps)));
    }

    [Fact]
    public void CausalConvolution_BroadcastsTheKernelAndReadsStridedSignals()
    {
        // u [B, L, H] viewed as [B, H, L] (S4D's layout) with one kernel row per channel.
        const int b = 3, h = 5, length = 37;
        var gen = new Generator(5);
        var stored = Tensor.Randn([b, length, h], dtype: DType.Float64, generator: gen);
        var u = stored.Transpose(1, 2);
        var k = Tensor.Randn([h, length], dtype: DType.Float64, generator: gen);
        var y = u.CausalConvolution(k);
        var expected = NaiveCausalConvolution(u.Contiguous().ToArray<double>(), k.Expand([b, h, length]).Contiguous().ToArray<double>(), b * h, length, length);
        Assert.Equal(new[] { b, h, length }, y.Shape);
        AssertClose(expected, y.ToArray<double>(), 1e-12);
    }

    [Fact]
    public void CausalConvolution_WithAUnitImpulseKernel_ReturnsTheSignal()
    {
        var u = Tensor.Randn([4, 50], dtype: DType.Float64, generator: new Generator(9));
        var delta = new double[50];
        delta[0] = 1;
        var impulse = Tensor.FromArray(delta, [50]);
        AssertClose(u.ToArray<double>(), u.CausalConvolution(impulse).ToArray<double>(), 1e-14);
    }

    [Fact]
    public void CausalConvolution_OfAnEmptyKernel_IsZero()
    {
        var u = Tensor.Randn([2, 6], generator: new Generator(1));
        var y = u.CausalConvolution(Tensor.Zeros([2, 0]));
        Assert.Equal(new[] { 2, 6 }, y.Shape);
        Assert.All(y.ToArray<float>(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void CausalConvolution_OfMismatchedLeadingShapes_NamesTheOpAndShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros([2, 3, 8]).CausalConvolution(Tensor.Zeros([4, 8])));
        Assert.Contains("CausalConvolution", ex.Message);
        Assert.Contains("signal [2,3,8]", ex.Message);
        Assert.Contains("kernel [4,8]", ex.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    [InlineData(32)]
    [InlineData(512)]
    [InlineData(2048)]
    public void BatchedFft_OfInterleavedSignals_MatchesTheRadix2Fft(int n)
    {
        int lanes = BatchedFft<double>.Lanes;
        var rng = new System.Random(n);
        var re = new double[n * lanes];
        var im = new double[n * lanes];
        for (int i = 0; i < re.Length; i++) (re[i], im[i]) = (rng.NextDouble() - 0.5, rng.NextDouble() - 0.5);
        var (expectedRe, expectedIm) = (new double[re.Length], new double[im.Length]);
        for (int l = 0; l < lanes; l++)
        {
            var (sr, si) = (new double[n], new double[n]);
            for (int j = 0; j < n; j++) (sr[j], si[j]) = (re[j * lanes + l], im[j * lanes + l]);
            ComplexFft.ForLength(n).Forward(sr, si, [], []);
            for (int j = 0; j < n; j++) (expectedRe[j * lanes + l], expectedIm[j * lanes + l]) = (sr[j], si[j]);
        }
        BatchedFft<double>.ForLength(n).Forward(re, im, new double[re.Length], new double[im.Length]);
        AssertClose(expectedRe, re, 1e-13 * Math.Max(1, n));
        AssertClose(expectedIm, im, 1e-13 * Math.Max(1, n));
    }
}
