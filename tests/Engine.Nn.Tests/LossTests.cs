using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

public class LossTests
{
    // PyTorch's cross_entropy: per row (1 - eps) * (-log p[y]) + eps * mean_c(-log p[c]); mean over rows whose target is not ignored.
    static double NaiveCrossEntropy(double[] logits, long[] targets, int c, long ignore = -100, double eps = 0)
    {
        double total = 0;
        int count = 0;
        for (int r = 0; r < targets.Length; r++)
        {
            if (targets[r] == ignore) continue;
            var row = logits.AsSpan(r * c, c).ToArray();
            double max = row.Max(), lse = max + Math.Log(row.Sum(v => Math.Exp(v - max)));
            double nll = lse - row[targets[r]];
            double uniform = row.Sum(v => lse - v) / c;
            total += (1 - eps) * nll + eps * uniform;
            count++;
        }
        return total / count;
    }

    [Fact]
    public void CrossEntropy_EqualsNaiveLogSoftmaxNll()
    {
        var logits = Randn64(1, 6, 5) * 3;
        var targets = new long[] { 0, 4, 2, 2, 1, 3 };
        AssertClose(NaiveCrossEntropy(logits.ToDoubleArray(), targets, 5), Losses.CrossEntropy(logits, Tensor.FromArray(targets)).Item(), 1e-12);
    }

    [Fact]
    public void CrossEntropy_OnBatchTimeLogits_FlattensLikeRows()
    {
        var logits = Randn(2, 2, 3, 4);
        var targets = new long[] { 0, 1, 2, 3, 3, 0 };
        AssertClose(NaiveCrossEntropy(logits.ToDoubleArray(), targets, 4),
            Losses.CrossEntropy(logits, Tensor.FromArray(targets, [2, 3])).Item(), 1e-6);
    }

    [Fact]
    public void CrossEntropy_IgnoresTargetsEqualToTheIgnoreIndex()
    {
        var logits = Randn64(3, 5, 4);
        var targets = new long[] { 1, -100, 3, -100, 0 };
        AssertClose(NaiveCrossEntropy(logits.ToDoubleArray(), targets, 4), Losses.CrossEntropy(logits, Tensor.FromArray(targets)).Item(), 1e-12);
        var custom = new long[] { 1, 7, 3, 7, 0 };
        AssertClose(NaiveCrossEntropy(logits.ToDoubleArray(), custom, 4, ignore: 7),
            Losses.CrossEntropy(logits, Tensor.FromArray(custom), ignoreIndex: 7).Item(), 1e-12);
    }

    [Fact]
    public void CrossEntropy_WithLabelSmoothing_EqualsPyTorchsFormula()
    {
        var logits = Randn64(4, 5, 6) * 2;
        var targets = new long[] { 5, -100, 0, 3, 3 };
        AssertClose(NaiveCrossEntropy(logits.ToDoubleArray(), targets, 6, eps: 0.1),
            Losses.CrossEntropy(logits, Tensor.FromArray(targets), labelSmoothing: 0.1).Item(), 1e-12);
    }

    [Fact]
    public void CrossEntropy_WithEveryTargetIgnored_IsZeroNotNaN()
    {
        var loss = Losses.CrossEntropy(Randn(5, 2, 3), Tensor.FromArray(new long[] { -100, -100 })).Item();
        Assert.Equal(0, loss);
    }

    [Fact]
    public void Mse_IsTheMeanOfSquaredDifferences()
    {
        var a = Randn64(1, 3, 4);
        var b = Randn64(2, 3, 4);
        double expected = a.ToDoubleArray().Zip(b.ToDoubleArray()).Average(p => (p.First - p.Second) * (p.First - p.Second));
        AssertClose(expected, Losses.Mse(a, b).Item(), 1e-12);
    }

    [Fact]
    public void BinaryCrossEntropyWithLogits_EqualsTheNaiveFormulaForModerateLogits()
    {
        var x = Randn64(3, 10) * 2;
        var y = Tensor.Rand([10], dtype: DType.Float64, generator: new Generator(4));
        double expected = x.ToDoubleArray().Zip(y.ToDoubleArray()).Average(p =>
        {
            double s = 1 / (1 + Math.Exp(-p.First));
            return -(p.Second * Math.Log(s) + (1 - p.Second) * Math.Log(1 - s));
        });
        AssertClose(expected, Losses.BinaryCrossEntropyWithLogits(x, y).Item(), 1e-12);
    }

    [Fact]
    public void BinaryCrossEntropyWithLogits_IsFiniteAndExactAtPlusMinusOneHundred()
    {
        var x = Tensor.FromArray(new float[] { 100, -100, 100, -100 }).RequireGrad();
        var y = Tensor.FromArray(new float[] { 0, 1, 1, 0 });
        var loss = Losses.BinaryCrossEntropyWithLogits(x, y);
        // Per element: 100, 100, log(1 + e^-100) ~ 0, ~ 0.
        AssertClose(50, loss.Item(), 1e-6);
        Autograd.Autograd.Backward(loss);
        var g = x.Grad!.ToDoubleArray();
        Assert.All(g, v => Assert.True(double.IsFinite(v)));
        // d/dx = (sigmoid(x) - y) / N.
        AssertClose([0.25, -0.25, 0, 0], g, 1e-6);
    }
}
