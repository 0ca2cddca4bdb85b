using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

/// <summary>SupCon (Khosla et al. 2020, eq. 2; spec seeds-remaining.md §11) against loops written from the formula.</summary>
public class SupervisedContrastiveLossTests
{
    // Ties in the labels, a class of one (an anchor without positives) and a class of three.
    static readonly long[] Labels = [0, 1, 0, 2, 1, 0];

    [Fact]
    public void Loss_MatchesANaiveLoop_WithAnAnchorWithoutPositives()
    {
        var z = Randn64(1, 6, 5);
        Assert.Equal(Naive(z.ToDoubleArray(), 6, 5, Labels, 0.2), SupervisedContrastiveLoss.Compute(z, Labels, 0.2).Item(), 10);
    }

    [Fact]
    public void Loss_WithOnePositivePerAnchor_IsNtXent()
    {
        // Two views of three examples: rows i and i+3 are the pair; SimCLR's NT-Xent written out independently.
        var z = Randn64(2, 6, 4);
        var loss = SupervisedContrastiveLoss.Compute(z, [0, 1, 2, 0, 1, 2], 0.5).Item();
        var x = z.ToDoubleArray();
        double Sim(int i, int j) => Cosine(x, 4, i, j) / 0.5;
        double total = 0;
        for (int i = 0; i < 6; i++)
        {
            int pair = (i + 3) % 6;
            double denominator = Enumerable.Range(0, 6).Where(a => a != i).Sum(a => Math.Exp(Sim(i, a)));
            total += -Math.Log(Math.Exp(Sim(i, pair)) / denominator);
        }
        Assert.Equal(total / 6, loss, 10);
    }

    [Fact]
    public void Loss_IsInvariantToPermutingTheBatch_AndToTheEmbeddingsScale()
    {
        var z = Randn64(3, 6, 5);
        int[] order = [4, 2, 5, 0, 3, 1];
        var permuted = z.IndexSelect(0, Tensor.FromArray(order.Select(i => (long)i).ToArray()));
        var loss = SupervisedContrastiveLoss.Compute(z, Labels, 0.1).Item();
        Assert.Equal(loss, SupervisedContrastiveLoss.Compute(permuted, order.Select(i => Labels[i]).ToArray(), 0.1).Item(), 10);
        Assert.Equal(loss, SupervisedContrastiveLoss.Compute(z * 7.5, Labels, 0.1).Item(), 10);
    }

    [Fact]
    public void Loss_WithoutAnyPositive_IsZero_WithAZeroGradient()
    {
        var z = Randn64(4, 3, 4).RequireGrad();
        var loss = SupervisedContrastiveLoss.Compute(z, [0, 1, 2], 0.1);
        Autograd.Autograd.Backward(loss);
        Assert.Equal(0, loss.Item());
        Assert.All(z.Grad!.ToDoubleArray(), g => Assert.Equal(0, g));
    }

    [Fact]
    public void Loss_OfIdenticalClassEmbeddings_ReachesItsFloor()
    {
        // Each class collapsed onto one direction, the classes opposite: the loss tends to log of the positives' count
        // as τ → 0 (every other positive ties with the anchor's best), a closed form the implementation does not use.
        var rows = new double[] { 1, 0, 1, 0, 1, 0, -1, 0, -1, 0, -1, 0 };
        var z = Tensor.FromArray(rows, [6, 2]);
        Assert.Equal(Math.Log(2), SupervisedContrastiveLoss.Compute(z, [0, 0, 0, 1, 1, 1], 0.01).Item(), 8);
    }

    [Fact]
    public void Loss_PassesGradCheck_InFloat64() =>
        AssertInputGradients(x => SupervisedContrastiveLoss.Compute(x[0], Labels, 0.3), Randn64(5, 6, 4));

    [Fact]
    public void Loss_RejectsBadInput()
    {
        Assert.Contains("[6]", Assert.Throws<ArgumentException>(() => SupervisedContrastiveLoss.Compute(Randn64(1, 6), Labels)).Message);
        Assert.Contains("5 labels", Assert.Throws<ArgumentException>(() => SupervisedContrastiveLoss.Compute(Randn64(1, 6, 4), Labels[..5])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => SupervisedContrastiveLoss.Compute(Randn64(1, 6, 4), Labels, double.NaN));
    }

    static double Cosine(double[] x, int c, int i, int j)
    {
        double dot = 0, ni = 0, nj = 0;
        for (int k = 0; k < c; k++) { dot += x[i * c + k] * x[j * c + k]; ni += x[i * c + k] * x[i * c + k]; nj += x[j * c + k] * x[j * c + k]; }
        return dot / Math.Sqrt(ni * nj);
    }

    // Eq. 2 by loops, averaged over the anchors that have a positive.
    static double Naive(double[] x, int n, int c, long[] labels, double tau)
    {
        double total = 0;
        int anchors = 0;
        for (int i = 0; i < n; i++)
        {
            var positives = Enumerable.Range(0, n).Where(p => p != i && labels[p] == labels[i]).ToList();
            if (positives.Count == 0) continue;
            anchors++;
            double denominator = Enumerable.Range(0, n).Where(a => a != i).Sum(a => Math.Exp(Cosine(x, c, i, a) / tau));
            total += -positives.Average(p => Math.Log(Math.Exp(Cosine(x, c, i, p) / tau) / denominator));
        }
        return total / anchors;
    }
}
