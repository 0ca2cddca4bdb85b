using Xunit;

namespace Engine.Tests;

/// <summary>
/// The Float32 LayerNorm rows (three vector passes) against the same math in double precision by loops, at widths that
/// leave every kind of tail (fewer than one vector, one vector and a bit, MiniLM's 384), with constant rows (variance 0),
/// zeros and large values; the saved mean and 1/std as well.
/// </summary>
public class LayerNormFloatTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(23)]
    [InlineData(384)]
    public void Rows_MatchTheDoubleReference(int width)
    {
        const int rows = 6;
        var g = new Generator((ulong)width);
        var x = Tensor.Randn([rows, width], generator: g).ToArray<float>();
        for (int j = 0; j < width; j++)
        {
            x[1 * width + j] = 2.5f;          // a constant row: variance 0, output = bias
            x[2 * width + j] = 0f;            // zeros
            x[3 * width + j] *= 1e4f;         // large values, cancellation in the mean
            x[4 * width + j] += 1000f;        // a large mean against a unit spread
        }
        var w = Tensor.Randn([width], generator: g);
        var b = Tensor.Randn([width], generator: g);
        const double eps = 1e-5;
        var y = Tensor.FromArray(x, [rows, width]).LayerNorm(w, b, eps).ToArray<float>();
        var (W, B) = (w.ToArray<float>(), b.ToArray<float>());
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int j = 0; j < width; j++) mean += x[r * width + j];
            mean /= width;
            for (int j = 0; j < width; j++) variance += (x[r * width + j] - mean) * (x[r * width + j] - mean);
            double rstd = 1 / Math.Sqrt(variance / width + eps);
            for (int j = 0; j < width; j++)
            {
                double expected = (x[r * width + j] - mean) * rstd * W[j] + B[j];
                // Float32 rounding of the mean shifts the centred values by about u |mean| rstd (row 4: 1000 x 6e-8).
                double tolerance = 1e-5 * (1 + Math.Abs(expected)) + 2e-7 * Math.Abs(mean) * rstd * Math.Abs(W[j]);
                Assert.True(Math.Abs(y[r * width + j] - expected) <= tolerance,
                    $"width {width}, row {r}, column {j}: {y[r * width + j]:R}, reference {expected:R}");
            }
        }
    }
}
