using Xunit;

namespace Engine.Nn.Tests.Moe;

/// <summary>k-means with k-means++ seeding (<see cref="KMeans"/>), the clustering of CLIP-MoE's stages (spec 2.3).</summary>
public class KMeansTests
{
    // Three well-separated blobs of 4 points in the plane, shuffled so no cluster is contiguous.
    static readonly double[][] Blobs =
    [
        [0.0, 0.1], [10.2, 0.0], [0.1, 9.9], [-0.2, 0.0], [9.9, 0.3], [0.3, 10.1],
        [0.1, -0.1], [10.0, -0.2], [-0.1, 10.0], [0.2, 0.2], [10.1, 0.1], [0.0, 9.8],
    ];

    [Fact]
    public void KMeans_FindsTheMinimumInertiaPartition_OfObviousClusters()
    {
        var result = KMeans.Fit(Blobs, 3, new Generator(3));
        // Oracle: the blobs the points were written from (well-separated blobs are the minimum-inertia partition).
        var expected = Blobs.Select(p => p[0] > 5 ? 1 : p[1] > 5 ? 2 : 0).ToArray();
        AssertSamePartition(expected, result.Labels);
        // Each centroid is the plain mean of its points.
        for (int c = 0; c < 3; c++)
        {
            var members = Blobs.Where((_, i) => result.Labels[i] == c).ToArray();
            Assert.Equal(members.Average(p => p[0]), result.Centroids[c][0], 12);
            Assert.Equal(members.Average(p => p[1]), result.Centroids[c][1], 12);
        }
    }

    [Theory]
    [InlineData(1ul)]
    [InlineData(11ul)]
    [InlineData(29ul)]
    public void KMeans_MatchesBruteForceMinimumInertia_OnATinySet(ulong seed)
    {
        double[][] points = [[0.0], [0.4], [1.1], [5.0], [5.3], [5.9], [9.6], [10.0]];
        var result = KMeans.Fit(points, 3, new Generator(seed));
        // Naive reference: the least inertia over every labeling into 3 non-empty clusters, each about its own mean.
        double best = double.PositiveInfinity;
        var labels = new int[points.Length];
        for (int code = 0; code < 6561; code++)
        {
            for (int i = 0, c = code; i < points.Length; i++, c /= 3) labels[i] = c % 3;
            if (Enumerable.Range(0, 3).Any(k => !labels.Contains(k))) continue;
            double inertia = 0;
            for (int k = 0; k < 3; k++)
            {
                var members = points.Where((_, i) => labels[i] == k).Select(p => p[0]).ToArray();
                double mean = members.Average();
                inertia += members.Sum(v => (v - mean) * (v - mean));
            }
            best = Math.Min(best, inertia);
        }
        Assert.Equal(best, result.Inertia(points), 9);
    }

    [Fact]
    public void KMeans_IsDeterministicPerSeed()
    {
        var points = Tensor.Randn([40, 3], dtype: DType.Float64, generator: new Generator(5)).ToDoubleArray().Chunk(3).ToArray();
        var a = KMeans.Fit(points, 4, new Generator(9));
        var b = KMeans.Fit(points, 4, new Generator(9));
        Assert.Equal(a.Labels, b.Labels);
        Assert.Equal(a.Centroids.SelectMany(c => c), b.Centroids.SelectMany(c => c));
        // Another seed draws other k-means++ seeds (the clustering itself may or may not coincide on random data).
        var seedsOf = (ulong s) => KMeans.Fit(points, 4, new Generator(s), maxIterations: 1).Centroids.SelectMany(c => c).ToArray();
        Assert.NotEqual(seedsOf(9), seedsOf(10));
    }

    [Fact]
    public void KMeans_RejectsBadInput()
    {
        Assert.Contains("k = 5", Assert.Throws<ArgumentException>(() => KMeans.Fit(Blobs.Take(4).ToArray(), 5, new Generator(1))).Message);
        Assert.Contains("point 1", Assert.Throws<ArgumentException>(() => KMeans.Fit([[0.0, 1.0], [2.0]], 1, new Generator(1))).Message);
        Assert.Contains("not finite", Assert.Throws<ArgumentException>(() => KMeans.Fit([[0.0], [double.NaN]], 1, new Generator(1))).Message);
    }

    static void AssertSamePartition(int[] expected, int[] actual)
    {
        for (int i = 0; i < expected.Length; i++)
            for (int j = 0; j < expected.Length; j++)
                Assert.Equal(expected[i] == expected[j], actual[i] == actual[j]);
    }
}
