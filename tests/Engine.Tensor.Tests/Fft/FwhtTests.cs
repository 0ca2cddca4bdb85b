using Xunit;

namespace Engine.Tests.Fft;

/// <summary>
/// The fast Walsh–Hadamard transform against the naive product with the Hadamard matrix H[i, j] = (-1)^popcount(i &amp; j)
/// (O(L²), in double), FWHT(FWHT(x)) = L x, strided and batched inputs, one long row (the multi-threaded stage path)
/// and the refusal of lengths that are not powers of two.
/// </summary>
public class FwhtTests
{
    static double[] Naive(double[] x, int rows, int length)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < length; i++)
            {
                double sum = 0;
                for (int j = 0; j < length; j++) sum += (int.PopCount(i & j) % 2 == 0 ? 1 : -1) * x[r * length + j];
                y[r * length + i] = sum;
            }
        return y;
    }

    static void AssertClose(double[] expected, double[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * Math.Max(1, Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {actual[i]}");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 2)]
    [InlineData(2, 8)]
    [InlineData(5, 16)]
    [InlineData(2, 64)]
    [InlineData(1, 512)]
    public void Fwht_MatchesTheHadamardMatrixProduct(int rows, int length)
    {
        var x = Tensor.Randn([rows, length], dtype: DType.Float64, generator: new Generator((ulong)(rows * 131 + length)));
        var expected = Naive(x.ToArray<double>(), rows, length);
        AssertClose(expected, x.Fwht().ToArray<double>(), 1e-12);
        AssertClose(expected, x.To(DType.Float32).Fwht().To(DType.Float64).ToArray<double>(), 1e-5);
    }

    [Theory]
    [InlineData(4, 32)]
    [InlineData(1, 1 << 16)]
    public void Fwht_AppliedTwice_IsLengthTimesTheInput(int rows, int length)
    {
        var x = Tensor.Randn([rows, length], dtype: DType.Float64, generator: new Generator(7));
        var twice = x.Fwht().Fwht().ToArray<double>();
        // Rounding grows with the entries summed: relative 1e-9 leaves room for 2^16 of them.
        AssertClose(x.ToArray<double>().Select(v => v * length).ToArray(), twice, 1e-9);
    }

    [Fact]
    public void Fwht_OfOneLongRow_MatchesTheSameRowsOfABatch()
    {
        // 2^16 entries: the single-row path splits each stage over threads; as a row of a batch it runs whole.
        var x = Tensor.Randn([1, 1 << 16], dtype: DType.Float32, generator: new Generator(3));
        var batch = Tensor.Concat([x, x * 2], 0);
        var single = x.Fwht().ToArray<float>();
        var batched = batch.Fwht().ToArray<float>();
        for (int i = 0; i < single.Length; i++)
        {
            Assert.Equal(single[i], batched[i]);
            Assert.Equal(2 * single[i], batched[single.Length + i]);
        }
    }

    [Fact]
    public void Fwht_OfAStridedInput_TransformsItsLastDimension()
    {
        var columns = Tensor.Randn([8, 3], dtype: DType.Float64, generator: new Generator(5));
        var rows = columns.Transpose(0, 1);
        AssertClose(Naive(rows.Contiguous().ToArray<double>(), 3, 8), rows.Fwht().ToArray<double>(), 1e-12);
    }

    [Fact]
    public void Fwht_OfALengthThatIsNotAPowerOfTwo_IsRefused()
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => Tensor.Zeros([2, 6]).Fwht());
        Assert.Contains("power of two", e.Message);
    }
}
