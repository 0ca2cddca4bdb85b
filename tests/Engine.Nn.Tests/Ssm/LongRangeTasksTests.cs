using Xunit;

namespace Engine.Nn.Tests.Ssm;

public class LongRangeTasksTests
{
    [Fact]
    public void NoisySineFrequency_WithoutNoise_HasItsSpectralPeakAtTheLabelledFrequency()
    {
        var (tokens, labels) = LongRangeTasks.NoisySineFrequency(12, 256, 64, 0, new Generator(5));
        var t = tokens.ToArray<long>();
        var y = labels.ToArray<long>();
        for (int b = 0; b < 12; b++)
        {
            // Naive DFT magnitude at each candidate frequency of the de-quantised signal.
            var power = LongRangeTasks.Frequencies.Select(f =>
            {
                double re = 0, im = 0;
                for (int i = 0; i < 256; i++)
                {
                    double u = (t[b * 256 + i] + 0.5) / 64 * 8 - 4;
                    re += u * Math.Cos(2 * Math.PI * f * i / 256);
                    im -= u * Math.Sin(2 * Math.PI * f * i / 256);
                }
                return re * re + im * im;
            }).ToArray();
            Assert.Equal(y[b], Array.IndexOf(power, power.Max()));
        }
    }

    [Fact]
    public void NoisySineFrequency_UsesEveryClassAndStaysInTheTokenRange()
    {
        var (tokens, labels) = LongRangeTasks.NoisySineFrequency(200, 64, 16, 0.8, new Generator(6));
        Assert.Equal(4, labels.ToArray<long>().Distinct().Count());
        Assert.All(tokens.ToArray<long>(), v => Assert.InRange(v, 0, 15));
    }
}
