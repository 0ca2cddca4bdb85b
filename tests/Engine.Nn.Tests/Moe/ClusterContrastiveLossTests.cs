using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Moe;

/// <summary>The cluster-restricted symmetric InfoNCE of CLIP-MoE's stages (<see cref="ClusterContrastiveLoss"/>, spec 2.3).</summary>
public class ClusterContrastiveLossTests
{
    static readonly long[] Clusters = [0, 1, 0, 2, 1, 0];

    [Theory]
    [InlineData(ContrastiveNegatives.SameCluster)]
    [InlineData(ContrastiveNegatives.OtherClusters)]
    public void Loss_MatchesANaiveLoop(ContrastiveNegatives negatives)
    {
        var a = Randn64(1, 6, 5);
        var b = Randn64(2, 6, 5);
        var loss = ClusterContrastiveLoss.Compute(a, b, Clusters, 0.2, negatives).Item();
        Assert.Equal(Naive(a.ToDoubleArray(), b.ToDoubleArray(), 6, 5, Clusters, 0.2, negatives), loss, 10);
    }

    [Fact]
    public void Loss_WithEveryTextInItsOwnCluster_HasOnlyThePositive_SoIsZero_AndWithOneCluster_IsPlainInfoNce()
    {
        var a = Randn64(3, 4, 3);
        var b = Randn64(4, 4, 3);
        Assert.Equal(0, ClusterContrastiveLoss.Compute(a, b, [0, 1, 2, 3], 0.1).Item(), 12);
        var plain = ClusterContrastiveLoss.Compute(a, b, [7, 7, 7, 7], 0.1).Item();
        Assert.Equal(plain, ClusterContrastiveLoss.Compute(a, b, [0, 1, 2, 3], 0.1, ContrastiveNegatives.OtherClusters).Item(), 12);
        Assert.Equal(Naive(a.ToDoubleArray(), b.ToDoubleArray(), 4, 3, [0, 0, 0, 0], 0.1, ContrastiveNegatives.SameCluster), plain, 10);
    }

    [Theory]
    [InlineData(ContrastiveNegatives.SameCluster)]
    [InlineData(ContrastiveNegatives.OtherClusters)]
    public void Loss_PassesGradCheck_InFloat64(ContrastiveNegatives negatives) =>
        AssertInputGradients(x => ClusterContrastiveLoss.Compute(x[0], x[1], Clusters, 0.3, negatives), Randn64(5, 6, 4), Randn64(6, 6, 4));

    [Fact]
    public void Loss_RejectsMismatchedInputs()
    {
        Assert.Contains("[6,4] and [6,3]", Assert.Throws<ArgumentException>(() => ClusterContrastiveLoss.Compute(Randn64(1, 6, 4), Randn64(1, 6, 3), Clusters, 0.1)).Message);
        Assert.Contains("5 cluster labels", Assert.Throws<ArgumentException>(() => ClusterContrastiveLoss.Compute(Randn64(1, 6, 4), Randn64(1, 6, 4), Clusters[..5], 0.1)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ClusterContrastiveLoss.Compute(Randn64(1, 6, 4), Randn64(1, 6, 4), Clusters, 0));
    }

    // (ℓ(a→b) + ℓ(b→a)) / 2 by loops: cosine similarities over τ, the positive in the numerator, the allowed pairs in the denominator.
    static double Naive(double[] a, double[] b, int n, int c, long[] clusters, double tau, ContrastiveNegatives negatives)
    {
        double[] Unit(double[] x, int r)
        {
            var row = x.AsSpan(r * c, c).ToArray();
            double norm = Math.Sqrt(row.Sum(v => v * v));
            return row.Select(v => v / norm).ToArray();
        }
        double Sim(int i, int j) => Unit(a, i).Zip(Unit(b, j), (x, y) => x * y).Sum() / tau;
        bool Allowed(int i, int j) => i == j || (negatives == ContrastiveNegatives.SameCluster) == (clusters[i] == clusters[j]);
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            double denAb = 0, denBa = 0;
            for (int j = 0; j < n; j++)
            {
                if (!Allowed(i, j)) continue;
                denAb += Math.Exp(Sim(i, j));
                denBa += Math.Exp(Sim(j, i));
            }
            total += -Math.Log(Math.Exp(Sim(i, i)) / denAb) - Math.Log(Math.Exp(Sim(i, i)) / denBa);
        }
        return total / (2 * n);
    }
}
