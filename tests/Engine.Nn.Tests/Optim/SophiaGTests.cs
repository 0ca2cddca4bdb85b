using Engine.Autograd;
using Xunit;

namespace Engine.Nn.Tests.Optim;

/// <summary>
/// Hand-checked cases of <see cref="SophiaG"/> (structure-and-optimizers.md §3.1 and its oracles): every update entry
/// is at most η·c before decay; on a diagonal quadratic with the exact Hessian, β1 = 0 and the clip inactive, every
/// coordinate shrinks by the same factor 1 − η/γ whatever its curvature; labels are drawn with the model's
/// probabilities, reproducibly; and the <see cref="Trainer"/> runs the sampled-label backward after every k-th step.
/// </summary>
public class SophiaGTests
{
    [Fact]
    public void UpdateEntries_AreBoundedByLrTimesClip_AndTheBoundIsReached()
    {
        var p = Tensor.FromArray(Enumerable.Range(0, 40).Select(i => Math.Sin(i)).ToArray(), [5, 8]).RequireGrad();
        var sophia = new SophiaG([new ParamGroup([p], 0.02)], 0.9, 0.5, gamma: 0.5, clip: 0.7, hessianInterval: 2);
        int atBound = 0, inside = 0;
        for (int t = 1; t <= 8; t++)
        {
            var before = p.ToDoubleArray();
            p.Grad = Tensor.FromArray(Enumerable.Range(0, 40).Select(i => Math.Cos(0.9 * i + t) * (1 + i % 3)).ToArray(), [5, 8]);
            sophia.Step();
            var after = p.ToDoubleArray();
            for (int i = 0; i < 40; i++)
            {
                double moved = Math.Abs(after[i] - before[i]);
                Assert.True(moved <= 0.02 * 0.7 * (1 + 1e-12), $"step {t} [{i}] moved {moved} > η·c");
                if (moved > 0.02 * 0.7 * (1 - 1e-12)) atBound++;
                else inside++;
            }
            if (sophia.HessianDue)
            {
                p.Grad = Tensor.FromArray(Enumerable.Range(0, 40).Select(i => 0.2 * Math.Sin(0.5 * i + t)).ToArray(), [5, 8]);
                sophia.UpdateHessian(20);
            }
        }
        Assert.True(atBound > 0 && inside > 0, $"{atBound} clipped, {inside} inside");
    }

    [Fact]
    public void DiagonalQuadratic_WithTheExactHessian_ShrinksEveryCoordinateByOneMinusLrOverGamma()
    {
        // L = ½ Σ h_i θ_i²: g = h⊙θ, Hessian diag h. β2 = 0 and UpdateHessian with ĝ = √h over B = 1 set h exactly.
        var h = new[] { 0.1, 1.0, 10.0, 250.0 };
        var theta0 = new[] { 0.03, -0.04, 0.02, -0.01 };
        const double lr = 0.004, gamma = 0.05;
        var p = Tensor.FromArray((double[])theta0.Clone()).RequireGrad();
        var sophia = new SophiaG([new ParamGroup([p], lr)], beta1: 0, beta2: 0, gamma: gamma, hessianInterval: 1000);
        p.Grad = Tensor.FromArray(h.Select(Math.Sqrt).ToArray());
        sophia.UpdateHessian(1);
        for (int t = 1; t <= 3; t++)
        {
            p.Grad = Tensor.FromArray(p.ToDoubleArray().Zip(h, (x, c) => c * x).ToArray());
            sophia.Step();
        }
        var actual = p.ToDoubleArray();
        for (int i = 0; i < h.Length; i++)
            Assert.True(Math.Abs(actual[i] - theta0[i] * Math.Pow(1 - lr / gamma, 3)) < 1e-14, $"[{i}] (h {h[i]}): {actual[i]} vs {theta0[i] * Math.Pow(1 - lr / gamma, 3)}");
    }

    [Fact]
    public void SampledLabels_FollowTheSoftmax_AndAreReproducible()
    {
        var row = new[] { 1.0, 0.0, -1.0, 2.0 };
        const int rows = 20000;
        var logits = Tensor.FromArray(Enumerable.Range(0, rows).SelectMany(_ => row).ToArray(), [rows / 4, 4, 4]);
        var labels = SophiaG.SampleLabels(logits, new Generator(11)).ToDoubleArray();
        double z = row.Sum(Math.Exp);
        for (int v = 0; v < 4; v++)
        {
            double p = Math.Exp(row[v]) / z, frequency = labels.Count(l => l == v) / (double)rows;
            Assert.True(Math.Abs(frequency - p) < 4 * Math.Sqrt(p * (1 - p) / rows), $"label {v}: frequency {frequency}, probability {p}");
        }
        Assert.Equal(labels, SophiaG.SampleLabels(logits, new Generator(11)).ToDoubleArray());
        Assert.Equal(rows, SophiaG.SampledLabelLoss(logits, new Generator(11)).DataPoints);
    }

    [Fact]
    public void Trainer_FoldsTheSampledLabelGradient_AfterEveryKthStep()
    {
        var linear = new Linear(3, 4, bias: false, generator: new Generator(2));
        var sophia = new SophiaG([new ParamGroup(linear.Parameters(), 0.01)], beta2: 0.9, hessianInterval: 3);
        var x = Tensor.FromArray(Enumerable.Range(0, 6).Select(i => (float)Math.Sin(i)).ToArray(), [2, 3]);
        var y = Tensor.FromArray(new long[] { 1, 3 });
        var labels = Tensor.FromArray(new long[] { 0, 2 });
        var calls = new List<int>();
        var squares = new List<double[]>();
        var options = new TrainerOptions(7, HessianSample: step =>
        {
            calls.Add(step);
            Assert.Null(linear.Weight.Grad);
            // ĝ at this moment's weights, computed independently on a copy with the same labels.
            var copy = new Linear(3, 4, bias: false);
            copy.LoadStateDict(linear.StateDict());
            Losses.CrossEntropy(copy.Forward(x), labels).Backward();
            squares.Add(copy.Weight.Grad!.ToDoubleArray().Select(g => g * g).ToArray());
            return new HessianSample(Losses.CrossEntropy(linear.Forward(x), labels), 2);
        });
        new Trainer(linear, sophia, options).Run(_ => Losses.CrossEntropy(linear.Forward(x), y));
        Assert.Equal([2, 5], calls);
        Assert.Null(linear.Weight.Grad);
        // h = β2·(1−β2)·B·ĝ₁² + (1−β2)·B·ĝ₂², B = 2.
        var h = sophia.StateOf(linear.Weight, "hessian")!.ToDoubleArray();
        for (int i = 0; i < h.Length; i++)
        {
            double expected = 0.9 * 0.1 * 2 * squares[0][i] + 0.1 * 2 * squares[1][i];
            Assert.True(Math.Abs(h[i] - expected) < 1e-6 * (1 + expected), $"[{i}]: {h[i]} vs {expected}");
        }
    }

    [Fact]
    public void Trainer_WithoutTheSampledLabelLoss_IsRefused()
    {
        // Without HessianSample the estimate would stay 0 and Sophia-G would silently train as sign-momentum.
        var linear = new Linear(3, 4, bias: false, generator: new Generator(2));
        var sophia = new SophiaG([new ParamGroup(linear.Parameters(), 0.01)]);
        var e = Assert.Throws<ArgumentException>(() => new Trainer(linear, sophia, new TrainerOptions(3)));
        Assert.Contains("HessianSample", e.Message);
        Assert.Contains("SophiaG", e.Message);
    }
}
