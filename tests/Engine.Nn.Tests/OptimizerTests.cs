using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

public class OptimizerTests
{
    static readonly double[] Start = [0.5, -1.5, 2.0];

    // A gradient that depends on the parameter, so the steps differ: g = p^2 - 0.3 + 0.1 i.
    static double[] GradOf(double[] p) => p.Select((v, i) => v * v - 0.3 + 0.1 * i).ToArray();

    static Tensor Param() => Tensor.FromArray((double[])Start.Clone()).RequireGrad();

    static double[] Run(Optimizer opt, Tensor p, int steps)
    {
        for (int s = 0; s < steps; s++)
        {
            p.Grad = Tensor.FromArray(GradOf(p.ToArray<double>()));
            opt.Step();
        }
        return p.ToArray<double>();
    }

    // torch.optim.SGD's update, written out.
    static double[] ReferenceSgd(double lr, double mu, bool nesterov, double wd, int steps)
    {
        var p = (double[])Start.Clone();
        var b = new double[p.Length];
        for (int t = 1; t <= steps; t++)
        {
            var g = GradOf(p);
            for (int i = 0; i < p.Length; i++)
            {
                double gi = g[i] + wd * p[i];
                if (mu != 0)
                {
                    b[i] = t == 1 ? gi : mu * b[i] + gi;
                    gi = nesterov ? gi + mu * b[i] : b[i];
                }
                p[i] -= lr * gi;
            }
        }
        return p;
    }

    // torch.optim.Adam / AdamW, written out.
    static double[] ReferenceAdam(double lr, double b1, double b2, double eps, double wd, bool decoupled, int steps)
    {
        var p = (double[])Start.Clone();
        var m = new double[p.Length];
        var v = new double[p.Length];
        for (int t = 1; t <= steps; t++)
        {
            var g = GradOf(p);
            for (int i = 0; i < p.Length; i++)
            {
                double gi = decoupled ? g[i] : g[i] + wd * p[i];
                if (decoupled) p[i] *= 1 - lr * wd;
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                double mHat = m[i] / (1 - Math.Pow(b1, t)), vHat = v[i] / (1 - Math.Pow(b2, t));
                p[i] -= lr * mHat / (Math.Sqrt(vHat) + eps);
            }
        }
        return p;
    }

    [Theory]
    [InlineData(0.0, false, 0.0)]
    [InlineData(0.9, false, 0.0)]
    [InlineData(0.9, true, 0.0)]
    [InlineData(0.0, false, 0.1)]
    [InlineData(0.5, true, 0.05)]
    public void Sgd_ThreeStepsEqualTheHandComputedUpdates(double momentum, bool nesterov, double weightDecay)
    {
        var p = Param();
        var actual = Run(new Sgd([p], lr: 0.1, momentum, nesterov, weightDecay), p, 3);
        AssertClose(ReferenceSgd(0.1, momentum, nesterov, weightDecay, 3), actual, 1e-12);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    public void Adam_ThreeStepsEqualTheHandComputedUpdates(double weightDecay)
    {
        var p = Param();
        var actual = Run(new Adam([p], lr: 0.01, beta1: 0.8, beta2: 0.95, eps: 1e-8, weightDecay: weightDecay), p, 3);
        AssertClose(ReferenceAdam(0.01, 0.8, 0.95, 1e-8, weightDecay, decoupled: false, 3), actual, 1e-12);
    }

    [Fact]
    public void AdamW_DecaysWeightsDecoupledFromTheGradient()
    {
        var p = Param();
        var actual = Run(new AdamW([p], lr: 0.05, beta1: 0.9, beta2: 0.99, weightDecay: 0.2), p, 3);
        AssertClose(ReferenceAdam(0.05, 0.9, 0.99, 1e-8, 0.2, decoupled: true, 3), actual, 1e-12);
        AssertDiffers(ReferenceAdam(0.05, 0.9, 0.99, 1e-8, 0.2, decoupled: false, 3), actual);
    }

    static void AssertDiffers(double[] a, double[] b) => Assert.True(a.Zip(b).Any(p => Math.Abs(p.First - p.Second) > 1e-6));

    [Fact]
    public void ParameterGroups_UseTheirOwnLearningRates()
    {
        var p1 = Param();
        var p2 = Param();
        var opt = new Sgd([new ParamGroup([p1], lr: 0.1), new ParamGroup([p2], lr: 0.01, weightDecay: 0.1)], momentum: 0.9);
        for (int s = 0; s < 3; s++)
        {
            p1.Grad = Tensor.FromArray(GradOf(p1.ToArray<double>()));
            p2.Grad = Tensor.FromArray(GradOf(p2.ToArray<double>()));
            opt.Step();
        }
        AssertClose(ReferenceSgd(0.1, 0.9, false, 0, 3), p1.ToArray<double>(), 1e-12);
        AssertClose(ReferenceSgd(0.01, 0.9, false, 0.1, 3), p2.ToArray<double>(), 1e-12);
    }

    [Fact]
    public void ParametersWithoutGradient_AreLeftAlone()
    {
        var p = Param();
        var q = Param();
        var opt = new Adam([p, q], lr: 0.1);
        p.Grad = Tensor.FromArray(GradOf(Start));
        opt.Step();
        Assert.Equal(Start, q.ToArray<double>());
        AssertDiffers(Start, p.ToArray<double>());
    }

    [Theory]
    [InlineData("adamw")]
    [InlineData("sgd")]
    public void StateDict_RestoredIntoAFreshOptimiser_ContinuesIdentically(string kind)
    {
        Optimizer Make(Tensor p) => kind == "sgd" ? new Sgd([p], 0.1, momentum: 0.9, nesterov: true) : new AdamW([p], lr: 0.05, weightDecay: 0.1);
        var p = Param();
        var opt = Make(p);
        Run(opt, p, 2);
        var saved = opt.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        var pSaved = p.ToArray<double>();
        Assert.Equal(2, saved["step"].Item());
        var continued = Run(opt, p, 2);

        var q = Tensor.FromArray(pSaved).RequireGrad();
        var fresh = Make(q);
        fresh.LoadStateDict(saved);
        Assert.Equal(2, fresh.StepCount);
        Assert.Equal(continued, Run(fresh, q, 2));
    }

    [Fact]
    public void OptimiserLoadStateDict_RejectsKeysOutsideItsParameters()
    {
        var opt = new Sgd([Param()], 0.1, momentum: 0.9);
        var e = Assert.Throws<ArgumentException>(() => opt.LoadStateDict(new Dictionary<string, Tensor> { ["0.5.momentum"] = Tensor.Zeros(3) }));
        Assert.Contains("'0.5.momentum'", e.Message);
    }

    [Fact]
    public void GradClip_ReturnsTheTotalNormAndScalesGradientsToTheMaximum()
    {
        var a = Tensor.Zeros(2).RequireGrad();
        var b = Tensor.Zeros(1).RequireGrad();
        var none = Tensor.Zeros(1).RequireGrad();
        a.Grad = Tensor.FromArray(new float[] { 3, 4 });
        b.Grad = Tensor.FromArray(new float[] { 12 });
        double norm = GradClip.ClipGradNorm([a, b, none], 6.5);
        AssertClose(13, norm, 1e-9);
        double scale = 6.5 / (13 + 1e-6);
        AssertClose([3 * scale, 4 * scale], a.Grad!.ToDoubleArray(), 1e-6);
        AssertClose([12 * scale], b.Grad!.ToDoubleArray(), 1e-6);
        Assert.Null(none.Grad);
    }

    [Fact]
    public void GradClip_LeavesGradientsBelowTheMaximumUnchanged()
    {
        var a = Tensor.Zeros(2).RequireGrad();
        a.Grad = Tensor.FromArray(new float[] { 0.3f, 0.4f });
        AssertClose(0.5, GradClip.ClipGradNorm([a], 1.0), 1e-6);
        Assert.Equal(new float[] { 0.3f, 0.4f }, a.Grad!.ToArray<float>());
    }
}
