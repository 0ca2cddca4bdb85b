using Xunit;

namespace Engine.Nn.Tests;

/// <summary>Gamma and Dirichlet draws (<see cref="GammaSampling"/>) and the label-skewed federated split (<see cref="DirichletSplit"/>).</summary>
public class DirichletSplitTests
{
    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(1.0)]
    [InlineData(3.7)]
    public void Gamma_HasMeanAndVarianceEqualToItsShape(double shape)
    {
        var sampler = new GammaSampling(new Generator(11));
        var draws = Enumerable.Range(0, 40_000).Select(_ => sampler.Gamma(shape)).ToArray();
        Assert.All(draws, d => Assert.True(d >= 0 && double.IsFinite(d)));
        double mean = draws.Average(), variance = draws.Average(d => (d - mean) * (d - mean));
        // Five standard errors: Var(mean) = a/n; Var(sample variance) ≈ (μ4 − σ⁴)/n with μ4 = 3a² + 6a for Gamma(a).
        Assert.Equal(shape, mean, 5 * Math.Sqrt(shape / draws.Length));
        Assert.Equal(shape, variance, 5 * Math.Sqrt((3 * shape * shape + 6 * shape - shape * shape) / draws.Length));
    }

    [Fact]
    public void Dirichlet_SumsToOne_WithMeansProportionalToAlpha()
    {
        var sampler = new GammaSampling(new Generator(2));
        double[] alpha = [0.2, 1, 3];
        var sums = new double[3];
        for (int n = 0; n < 20_000; n++)
        {
            var p = sampler.Dirichlet(alpha);
            Assert.Equal(1, p.Sum(), 12);
            for (int i = 0; i < 3; i++) sums[i] += p[i] / 20_000;
        }
        // E[p_i] = α_i / Σα; the std of each p_i is below 0.5, so 5 standard errors are below 0.02.
        for (int i = 0; i < 3; i++) Assert.Equal(alpha[i] / 4.2, sums[i], 0.02);
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Gamma(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Dirichlet([1, double.NaN]));
    }

    static int[] Labels(int classes, int perClass) => [.. Enumerable.Range(0, classes * perClass).Select(i => i % classes)];

    [Theory]
    [InlineData(0.1)]
    [InlineData(1.0)]
    [InlineData(100.0)]
    public void Split_AssignsEveryExampleToExactlyOneClient(double alpha)
    {
        var labels = Labels(5, 40);
        var parts = DirichletSplit.Split(labels, 4, alpha, new Generator(3), minPerClient: 2);
        Assert.Equal(4, parts.Length);
        Assert.Equal(Enumerable.Range(0, labels.Length), parts.SelectMany(p => p).Order());
        Assert.All(parts, p => Assert.True(p.Length >= 2));
        Assert.All(parts, p => Assert.Equal(p.Order(), p));
    }

    [Fact]
    public void Split_SkewsTheLabels_MoreAsAlphaShrinks()
    {
        // Mean over clients of the largest class share: 1/classes for an IID split, 1 when each client holds one class.
        static double Skew(double alpha)
        {
            var labels = Labels(5, 200);
            var parts = DirichletSplit.Split(labels, 5, alpha, new Generator(4));
            return parts.Average(p => p.GroupBy(i => labels[i]).Max(g => g.Count()) / (double)p.Length);
        }
        double iid = Skew(1000), mild = Skew(1), strong = Skew(0.05);
        Assert.True(iid < 0.25, $"α = 1000: {iid}");
        Assert.True(mild > iid && strong > mild, $"{iid} {mild} {strong}");
        // At α = 0.05 a class goes almost whole to one client, so a client holds one or two classes (share ≥ 1/2).
        Assert.True(strong > 0.6, $"α = 0.05: {strong}");
    }

    [Fact]
    public void Split_RefusesWhatCannotBeSplit()
    {
        Assert.Contains("cannot give 4 clients 10 each", Assert.Throws<ArgumentException>(() => DirichletSplit.Split(Labels(2, 10), 4, 1, new Generator(1), minPerClient: 10)).Message);
        Assert.Contains("raise α", Assert.Throws<ArgumentException>(() => DirichletSplit.Split(Labels(2, 30), 6, 0.01, new Generator(1), minPerClient: 9, maxDraws: 5)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => DirichletSplit.Split(Labels(2, 10), 2, 0, new Generator(1)));
        Assert.Throws<ArgumentException>(() => DirichletSplit.Split(Labels(2, 10), 0, 1, new Generator(1)));
    }
}
