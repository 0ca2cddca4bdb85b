using Engine;
using Xunit;

namespace Engine.Tests.Fft;

/// <summary>Rfft/Irfft against a naive O(n^2) DFT and against the laws the FFT must obey.</summary>
public class RfftTests
{
    public static readonly TheoryData<int> Lengths = new() { 1, 2, 3, 5, 7, 8, 12, 16, 31, 64, 100, 127, 128, 1000, 1024 };

    // The oracle: X[k] = sum_j x[j] exp(-2 pi i j k / n), for k = 0..n/2, straight from the definition.
    static (double[] Re, double[] Im) NaiveRdft(double[] x)
    {
        int n = x.Length, bins = n / 2 + 1;
        var re = new double[bins];
        var im = new double[bins];
        for (int k = 0; k < bins; k++)
            for (int j = 0; j < n; j++)
            {
                // (j*k) mod n keeps the angle exact for large n.
                double angle = -2 * Math.PI * ((long)j * k % n) / n;
                re[k] += x[j] * Math.Cos(angle);
                im[k] += x[j] * Math.Sin(angle);
            }
        return (re, im);
    }

    static double[] RandomSignal(int n, int seed)
    {
        var rng = new System.Random(seed);
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = rng.NextDouble() * 2 - 1;
        return x;
    }

    static void AssertClose(double[] expected, double[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance,
                $"element {i}: expected {expected[i]}, got {actual[i]} (tolerance {tolerance})");
    }

    static double[] Interleave(double[] re, double[] im)
    {
        var result = new double[2 * re.Length];
        for (int k = 0; k < re.Length; k++) { result[2 * k] = re[k]; result[2 * k + 1] = im[k]; }
        return result;
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Rfft_Float64_MatchesNaiveDft(int n)
    {
        var x = RandomSignal(n, n);
        var (re, im) = NaiveRdft(x);
        var y = Tensor.FromArray(x, [n]).Rfft();
        Assert.Equal(new[] { n / 2 + 1, 2 }, y.Shape);
        Assert.Equal(DType.Float64, y.DType);
        AssertClose(Interleave(re, im), y.ToArray<double>(), 1e-11 * n + 1e-13);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Rfft_Float32_MatchesNaiveDftToSinglePrecision(int n)
    {
        var x = RandomSignal(n, 100 + n).Select(v => (double)(float)v).ToArray();
        var (re, im) = NaiveRdft(x);
        var y = Tensor.FromArray(x.Select(v => (float)v).ToArray(), [n]).Rfft();
        Assert.Equal(DType.Float32, y.DType);
        // Computed in double, so the only error is the final rounding to float (relative to the bin magnitude ~ sqrt n).
        AssertClose(Interleave(re, im), y.ToDoubleArray(), 1e-6 * Math.Sqrt(n) + 1e-6);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(12)]
    [InlineData(31)]
    [InlineData(100)]
    [InlineData(127)]
    [InlineData(1024)]
    public void Irfft_OfRfft_ReturnsSignal_ForEvenAndOddLengths(int n)
    {
        var x = RandomSignal(n, 7 * n);
        var roundTrip = Tensor.FromArray(x, [n]).Rfft().Irfft(n);
        Assert.Equal(new[] { n }, roundTrip.Shape);
        AssertClose(x, roundTrip.ToArray<double>(), 1e-12 * Math.Max(1, Math.Log2(n)));
    }

    [Fact]
    public void Irfft_Float32_RoundTripsToSinglePrecision()
    {
        var x = RandomSignal(3 * 50, 3).Select(v => (float)v).ToArray();
        var t = Tensor.FromArray(x, [3, 50]);
        var back = t.Rfft().Irfft();
        Assert.Equal(DType.Float32, back.DType);
        Assert.Equal(new[] { 3, 50 }, back.Shape);
        AssertClose(x.Select(v => (double)v).ToArray(), back.ToDoubleArray(), 1e-6);
    }

    [Fact]
    public void Irfft_MatchesNaiveInverseDft_IgnoringDcAndNyquistImaginaryParts()
    {
        // A spectrum that is not the rfft of any real signal: PyTorch's C2R drops Im(X[0]) and Im(X[n/2]).
        const int n = 6;
        double[] spec = { 1, 5, 2, -1, 0.5, 3, -2, 7 }; // bins 0..3 = n/2
        var y = Tensor.FromArray(spec, [4, 2]).Irfft(n).ToArray<double>();
        var expected = new double[n];
        for (int j = 0; j < n; j++)
        {
            double sum = spec[0] + spec[6] * Math.Cos(Math.PI * j); // DC and Nyquist, real parts only
            for (int k = 1; k < n / 2; k++)
            {
                double angle = 2 * Math.PI * j * k / n;
                sum += 2 * (spec[2 * k] * Math.Cos(angle) - spec[2 * k + 1] * Math.Sin(angle));
            }
            expected[j] = sum / n;
        }
        AssertClose(expected, y, 1e-12);
    }

    [Fact]
    public void Irfft_DefaultLength_IsTwiceBinsMinusOne()
    {
        var y = Tensor.Zeros([2, 5, 2], DType.Float64).Irfft();
        Assert.Equal(new[] { 2, 8 }, y.Shape);
        Assert.All(y.ToArray<double>(), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void Irfft_TruncatesOrZeroPadsBinsToHalfN()
    {
        var x = RandomSignal(10, 11);
        var spectrum = Tensor.FromArray(x, [10]).Rfft(); // 6 bins
        // n = 4 reads bins 0..2 only: same as irfft of the first 3 bins.
        var truncated = spectrum.Irfft(4).ToArray<double>();
        var explicitFirst3 = spectrum.Narrow(0, 0, 3).Irfft(4).ToArray<double>();
        AssertClose(explicitFirst3, truncated, 1e-14);
        // n = 20 needs 11 bins: the missing ones count as zero.
        var padded = spectrum.Irfft(20).ToArray<double>();
        var zeros = Tensor.Zeros([5, 2], DType.Float64);
        var explicitPadded = Tensor.Concat([spectrum, zeros], 0).Irfft(20).ToArray<double>();
        AssertClose(explicitPadded, padded, 1e-14);
    }

    [Fact]
    public void Rfft_WithN_ZeroPadsOrTruncatesTheSignal()
    {
        var x = RandomSignal(6, 5);
        var padded = Tensor.FromArray(x, [6]).Rfft(10);
        Assert.Equal(new[] { 6, 2 }, padded.Shape);
        var (re, im) = NaiveRdft([.. x, 0, 0, 0, 0]);
        AssertClose(Interleave(re, im), padded.ToArray<double>(), 1e-12);

        var truncated = Tensor.FromArray(x, [6]).Rfft(4);
        (re, im) = NaiveRdft(x[..4]);
        AssertClose(Interleave(re, im), truncated.ToArray<double>(), 1e-12);
    }

    [Fact]
    public void Rfft_TransformsEveryRowOfABatchIndependently()
    {
        const int b0 = 2, b1 = 3, n = 12;
        var x = RandomSignal(b0 * b1 * n, 42);
        var y = Tensor.FromArray(x, [b0, b1, n]).Rfft();
        Assert.Equal(new[] { b0, b1, 7, 2 }, y.Shape);
        var values = y.ToArray<double>();
        for (int r = 0; r < b0 * b1; r++)
        {
            var (re, im) = NaiveRdft(x[(r * n)..((r + 1) * n)]);
            AssertClose(Interleave(re, im), values[(r * 14)..((r + 1) * 14)], 1e-12);
        }
    }

    [Theory]
    [InlineData(DType.Float64)]
    [InlineData(DType.Float32)]
    public void Rfft_AcceptsNonContiguousInput(DType dtype)
    {
        const int rows = 9, n = 20;
        var data = RandomSignal(rows * n, 9).Select(v => (double)(float)v).ToArray();
        // Transposed: the FFT axis has stride `rows`.
        var transposed = Tensor.FromArray(data, [n, rows]).To(dtype).T;
        Assert.False(transposed.IsContiguous);
        var result = transposed.Rfft();
        Assert.Equal(dtype, result.DType);
        var y = result.ToDoubleArray();
        for (int r = 0; r < rows; r++)
        {
            var row = Enumerable.Range(0, n).Select(j => data[j * rows + r]).ToArray();
            var (re, im) = NaiveRdft(row);
            AssertClose(Interleave(re, im), y[(r * 22)..((r + 1) * 22)], dtype == DType.Float64 ? 1e-12 : 1e-5);
        }
    }

    [Theory]
    [InlineData(DType.Float64)]
    [InlineData(DType.Float32)]
    public void Irfft_AcceptsNonContiguousSpectrum(DType dtype)
    {
        var x = Tensor.FromArray(RandomSignal(4 * 16, 4), [4, 16]).To(dtype);
        var spectrum = x.Rfft();                        // [4, 9, 2]
        var strided = spectrum.Permute(1, 0, 2).Contiguous().Permute(1, 0, 2); // same values, other layout
        Assert.False(strided.IsContiguous);
        var back = strided.Irfft();
        Assert.Equal(dtype, back.DType);
        AssertClose(x.ToDoubleArray(), back.ToDoubleArray(), dtype == DType.Float64 ? 1e-12 : 1e-6);
    }

    [Theory]
    [InlineData(96)]   // rows one at a time
    [InlineData(128)]  // power of two: rows in SIMD lanes, 37 rows leaving the last group part-filled
    public void Rfft_OfLargeBatch_MatchesRowByRow_WhenRunInParallel(int n)
    {
        // Enough work to cross the parallel threshold: results must equal the single-row transforms exactly.
        int rows = n == 96 ? 64 : 37;
        var data = RandomSignal(rows * n, 1);
        var all = Tensor.FromArray(data, [rows, n]).Rfft().ToArray<double>();
        int width = 2 * (n / 2 + 1);
        for (int r = 0; r < rows; r += 6)
        {
            var single = Tensor.FromArray(data[(r * n)..((r + 1) * n)], [n]).Rfft().ToArray<double>();
            Assert.Equal(single, all[(r * width)..((r + 1) * width)]);
            var (re, im) = NaiveRdft(data[(r * n)..((r + 1) * n)]);
            AssertClose(Interleave(re, im), single, 1e-11 * n);
        }
    }

    [Theory]
    [InlineData(16, DType.Float64)]
    [InlineData(37, DType.Float64)]
    [InlineData(64, DType.Float32)]
    public void ConvolutionTheorem_IrfftOfSpectrumProduct_IsCausalConvolution(int length, DType dtype)
    {
        // S4D computes y = k * u (causal) as irfft(rfft(u, 2L) rfft(k, 2L), 2L)[:L].
        var u = RandomSignal(length, 1 + length);
        var k = RandomSignal(length, 2 + length);
        var fu = Tensor.FromArray(u, [length]).To(dtype).Rfft(2 * length);
        var fk = Tensor.FromArray(k, [length]).To(dtype).Rfft(2 * length);
        var (ur, ui) = (fu.Select(-1, 0), fu.Select(-1, 1));
        var (kr, ki) = (fk.Select(-1, 0), fk.Select(-1, 1));
        var product = Tensor.Stack([ur * kr - ui * ki, ur * ki + ui * kr], -1);
        var y = product.Irfft(2 * length).Narrow(0, 0, length).ToDoubleArray();

        var expected = new double[length];
        for (int t = 0; t < length; t++)
            for (int s = 0; s <= t; s++) expected[t] += k[s] * u[t - s];
        AssertClose(expected, y, dtype == DType.Float64 ? 1e-12 * length : 1e-5 * length);
    }

    [Fact]
    public void Rfft_OfIntegerInput_ComputesInFloat32()
    {
        var y = Tensor.FromArray(new[] { 1, 2, 3, 4 }, [4]).Rfft();
        Assert.Equal(DType.Float32, y.DType);
        Assert.Equal(new float[] { 10, 0, -2, 2, -2, 0 }, y.ToArray<float>());
    }

    [Fact]
    public void Irfft_RejectsLastDimensionOtherThanTwo()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros(4, 3).Irfft());
        Assert.Equal("Irfft: expects a last dimension of size 2 (real, imaginary), got [4,3]", ex.Message);
    }

    [Fact]
    public void Irfft_RejectsSingleBinWithoutExplicitLength()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros(1, 2).Irfft());
        Assert.Contains("Irfft", ex.Message);
        Assert.Contains("[1,2]", ex.Message);
        Assert.Equal(new[] { 3 }, Tensor.Zeros(1, 2).Irfft(3).Shape);
    }

    [Fact]
    public void Rfft_RejectsScalarsBoolsAndNonPositiveLengths()
    {
        Assert.Contains("Rfft", Assert.Throws<ArgumentException>(() => Tensor.Scalar(1).Rfft()).Message);
        Assert.Contains("Bool", Assert.Throws<ArgumentException>(() => Tensor.Zeros([4], DType.Bool).Rfft()).Message);
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros(3, 4).Rfft(0));
        Assert.Equal("Rfft: signal length n must be at least 1, got 0 for input [3,4]", ex.Message);
    }
}
