using Xunit;

namespace Engine.Tests.Devices;

[Collection("Devices")]
public sealed class DeviceNormalizationTests
{
    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void LayerNormForwardAndBackward_MatchTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var g = new Generator(21);
        var (x, w, b, grad) = (Tensor.Randn([3, 6], generator: g), Tensor.Randn([6], generator: g), Tensor.Randn([6], generator: g), Tensor.Randn([3, 6], generator: g));
        var (dx, dw, db, dg) = (x.To(device), w.To(device), b.To(device), grad.To(device));
        TestDevices.AssertClose(x.LayerNorm(w, b), dx.LayerNorm(dw, db), 1e-5);
        TestDevices.AssertClose(x.LayerNorm(), dx.LayerNorm(), 1e-5);
        var mean = x.Mean(1);
        var rstd = (x.Var(1, unbiased: false) + 1e-5).Rsqrt();
        var expected = Tensor.LayerNormBackward(x, w, mean, rstd, grad);
        var actual = Tensor.LayerNormBackward(dx, dw, mean.To(device), rstd.To(device), dg);
        TestDevices.AssertClose(expected.Dx, actual.Dx, 1e-5);
        TestDevices.AssertClose(expected.Dweight, actual.Dweight, 1e-5);
        TestDevices.AssertClose(expected.Dbias, actual.Dbias, 1e-5);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void LayerNormAndSoftmax_OfLongRows_UseGroupKernelsThatMatchTheCpu(string name)
    {
        // Rows of 64+ elements get a group per row; the strided softmax axis checks the group kernel's addressing.
        var device = TestDevices.Parse(name);
        var g = new Generator(23);
        var (x, w, b) = (Tensor.Randn([3, 100], generator: g), Tensor.Randn([100], generator: g), Tensor.Randn([100], generator: g));
        var dx = x.To(device);
        TestDevices.AssertClose(x.LayerNorm(w, b), dx.LayerNorm(w.To(device), b.To(device)), 1e-5);
        TestDevices.AssertClose(x.Softmax(1), dx.Softmax(1), 1e-6);
        TestDevices.AssertClose(x.LogSoftmax(1), dx.LogSoftmax(1), 1e-6);
        TestDevices.AssertClose(x.Transpose(0, 1).Softmax(0), dx.Transpose(0, 1).Softmax(0), 1e-6);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void SoftmaxBackwardAndAdamStep_MatchTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var g = new Generator(22);
        var y = Tensor.Randn([2, 5], generator: g).Softmax(1);
        var grad = Tensor.Randn([2, 5], generator: g);
        TestDevices.AssertClose(y.SoftmaxBackward(grad, log: false), y.To(device).SoftmaxBackward(grad.To(device), log: false), 1e-6);
        TestDevices.AssertClose(y.Log().SoftmaxBackward(grad, log: true), y.Log().To(device).SoftmaxBackward(grad.To(device), log: true), 1e-6);

        var (p, m, v) = (Tensor.Randn([7], generator: g), Tensor.Randn([7], generator: g), Tensor.Rand([7], generator: g));
        var (dp, dm, dv) = (p.To(device), m.To(device), v.To(device));
        var step = Tensor.Randn([7], generator: g);
        p.AdamStepInPlace(step, m, v, 0.9, 0.999, 1e-8, 0.01, 0.5, 0.001);
        dp.AdamStepInPlace(step.To(device), dm, dv, 0.9, 0.999, 1e-8, 0.01, 0.5, 0.001);
        TestDevices.AssertClose(p, dp, 1e-6);
        TestDevices.AssertClose(m, dm, 1e-6);
        TestDevices.AssertClose(v, dv, 1e-6);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void RfftAndIrfft_OfEvenAndOddLengths_MatchTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        foreach (int n in new[] { 6, 7 })
        {
            var x = Tensor.Randn([2, n], generator: new Generator((ulong)n));
            var spectrum = x.Rfft();
            TestDevices.AssertClose(spectrum, x.To(device).Rfft(), 1e-5);
            TestDevices.AssertClose(spectrum.Irfft(n), spectrum.To(device).Irfft(n), 1e-5);
            TestDevices.AssertClose(x.Transpose(0, 1).Rfft(), x.To(device).Transpose(0, 1).Rfft(), 1e-5);
        }
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void CausalConvolution_OfABroadcastKernel_MatchesTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var gen = new Generator(21);
        var u = Tensor.Randn([2, 19, 3], generator: gen).Transpose(1, 2);
        var k = Tensor.Randn([3, 11], generator: gen);
        TestDevices.AssertClose(u.CausalConvolution(k), u.To(device).CausalConvolution(k.To(device)), 1e-5);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void SolveTriangular_LowerAndUpper_MatchTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var gen = new Generator(22);
        var a = Tensor.Randn([2, 9, 9], generator: gen) / 9 + Tensor.Eye(9) * 2;
        var b = Tensor.Randn([9, 4], generator: gen);
        foreach (bool upper in new[] { false, true })
            foreach (bool unit in new[] { false, true })
                TestDevices.AssertClose(Tensor.SolveTriangular(a, b, upper, unit), Tensor.SolveTriangular(a.To(device), b.To(device), upper, unit), 1e-5);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void VandermondeProductAndAdjoint_MatchTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var gen = new Generator(23);
        var c = Tensor.Randn([2, 3, 2], generator: gen);
        var w = Tensor.Concat([Tensor.Rand([2, 3, 1], -0.3, -0.01, generator: gen), Tensor.Rand([2, 3, 1], -2, 2, generator: gen)], -1);
        TestDevices.AssertClose(Tensor.VandermondeProduct(c, w, 70), Tensor.VandermondeProduct(c.To(device), w.To(device), 70), 1e-5);
        var g = Tensor.Randn([2, 70], generator: gen);
        var (s0, s1) = Tensor.VandermondeAdjoint(g, w);
        var (d0, d1) = Tensor.VandermondeAdjoint(g.To(device), w.To(device));
        TestDevices.AssertClose(s0, d0, 1e-4);
        TestDevices.AssertClose(s1, d1, 1e-4);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void Fwht_MatchesTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var x = Tensor.Randn([3, 64], generator: new Generator(29));
        TestDevices.AssertClose(x.Fwht(), x.To(device).Fwht(), 1e-4);
        TestDevices.AssertClose(x.Transpose(0, 1).Contiguous().Transpose(0, 1).Fwht(), x.To(device).Transpose(0, 1).Contiguous().Transpose(0, 1).Fwht(), 1e-4);
    }
}
