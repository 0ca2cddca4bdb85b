using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Optim;

/// <summary>DP-SGD's clipped, noised gradient (<see cref="PrivateGradient"/>, Abadi et al. 2016) against per-example gradients computed here.</summary>
public class PrivateGradientTests
{
    // A linear least-squares model: example i's gradient is 2 (w·x_i − y_i) x_i, written out by hand below.
    static readonly double[,] X = { { 1, 2, 0 }, { 0, -1, 3 }, { 4, 0, 1 }, { 0, 0, 0 }, { -2, 1, 1 } };
    static readonly double[] Y = [1, -2, 0.5, 3, 0];

    static double[] ExampleGradient(double[] w, int i)
    {
        double r = Enumerable.Range(0, 3).Sum(j => w[j] * X[i, j]) - Y[i];
        return Enumerable.Range(0, 3).Select(j => 2 * r * X[i, j]).ToArray();
    }

    static Tensor Loss(Tensor w, int i)
    {
        var x = Tensor.FromArray(Enumerable.Range(0, 3).Select(j => X[i, j]).ToArray());
        return (w * x).Sum().Sub(Y[i]).Square();
    }

    [Theory]
    [InlineData(1e9)]   // nothing clipped: the plain mean gradient
    [InlineData(1.5)]   // most examples clipped
    public void WithoutNoise_IsTheMeanOfTheClippedExampleGradients(double clip)
    {
        double[] w0 = [0.3, -0.7, 1.1];
        var w = Tensor.FromArray(w0).RequireGrad();
        var step = PrivateGradient.Compute([w], 5, i => Loss(w, i), clip, 0, new Generator(1));
        var expected = new double[3];
        int clipped = 0;
        for (int i = 0; i < 5; i++)
        {
            var g = ExampleGradient(w0, i);
            double norm = Math.Sqrt(g.Sum(v => v * v));
            if (norm > clip) clipped++;
            for (int j = 0; j < 3; j++) expected[j] += g[j] * Math.Min(1, clip / norm is var f && double.IsFinite(f) ? f : 1) / 5;
        }
        AssertClose(expected, w.Grad!.ToDoubleArray(), 1e-12);
        Assert.Equal(clipped / 5.0, step.ClippedFraction);
        Assert.Equal(Enumerable.Range(0, 5).Average(i => Loss(w, i).Item()), step.MeanLoss, 12);
        if (clip < 100) Assert.True(clipped >= 3, $"the case must clip most examples, clipped {clipped}");
    }

    [Fact]
    public void ClipsTheNormOverAllParametersTogether()
    {
        // Two parameters of one example: the joint norm is clipped, not each tensor's.
        var a = Tensor.FromArray(new double[] { 3 }).RequireGrad();
        var b = Tensor.FromArray(new double[] { 4 }).RequireGrad();
        PrivateGradient.Compute([a, b], 1, _ => (a * a + b * b) * 0.5, clipNorm: 1, noiseMultiplier: 0, new Generator(1));
        // ∇ = (3, 4), norm 5, clipped to (0.6, 0.8).
        Assert.Equal(0.6, a.Grad!.Item(), 12);
        Assert.Equal(0.8, b.Grad!.Item(), 12);
    }

    [Fact]
    public void Noise_HasStandardDeviationSigmaTimesClipOverTheBatch_AndFollowsTheSeed()
    {
        var w = Tensor.Zeros([4000], DType.Float64).RequireGrad();
        // A loss with zero gradient: what is left is the noise, std σC/B = 0.8 · 2 / 4.
        PrivateGradient.Compute([w], 4, _ => w.Sum() * 0.0, clipNorm: 2, noiseMultiplier: 0.8, new Generator(5));
        var g = w.Grad!.ToDoubleArray();
        double mean = g.Average(), std = Math.Sqrt(g.Average(v => (v - mean) * (v - mean)));
        Assert.Equal(0.4, std, 0.4 * 5 / Math.Sqrt(2 * 4000));   // five standard errors of a sample std
        Assert.Equal(0, mean, 5 * 0.4 / Math.Sqrt(4000));
        var again = Tensor.Zeros([4000], DType.Float64).RequireGrad();
        PrivateGradient.Compute([again], 4, _ => again.Sum() * 0.0, 2, 0.8, new Generator(5));
        Assert.Equal(g, again.Grad!.ToDoubleArray());
    }

    [Fact]
    public void RejectsBadArguments()
    {
        var w = Tensor.FromArray(new double[] { 1, 2 }).RequireGrad();
        Assert.Throws<ArgumentException>(() => PrivateGradient.Compute([], 1, _ => w.Sum(), 1, 0, new Generator(1)));
        Assert.Throws<ArgumentException>(() => PrivateGradient.Compute([w], 0, _ => w.Sum(), 1, 0, new Generator(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => PrivateGradient.Compute([w], 1, _ => w.Sum(), 0, 0, new Generator(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => PrivateGradient.Compute([w], 1, _ => w.Sum(), 1, -1, new Generator(1)));
        Assert.Contains("example 0", Assert.Throws<ArgumentException>(() => PrivateGradient.Compute([w], 1, _ => w * 2, 1, 0, new Generator(1))).Message);
    }
}
