using Engine.Autograd;
using Xunit;
using static Engine.Nn.Tests.TestSupport;
using static Engine.Nn.Tests.Ssm.CompanionReference;

namespace Engine.Nn.Tests.Ssm;

/// <summary>The companion kernel and the open-loop companion SSM against plain loops, the AR(p) representation, gradients and errors.</summary>
public class CompanionSsmTests
{
    // Per kernel, the naive K_l = cᵀ A^l b with A from the (normalised) last column the layer uses.
    static double[][] NaiveKernels(CompanionSsm ssm, int length)
    {
        int h = ssm.Channels, d = ssm.StateSize;
        var a = ssm.EffectiveA.ToDoubleArray();
        var b = ssm.B.ToDoubleArray();
        var c = ssm.C.ToDoubleArray();
        return Enumerable.Range(0, h).Select(i => Kernel(Row(a, i, d), Row(b, i, d), Row(c, i, d), length)).ToArray();
    }

    [Theory]
    [InlineData(4, 16, 64)]      // d < L
    [InlineData(3, 16, 37)]      // odd L
    [InlineData(2, 40, 24)]      // d > L: the cross-correlations fold modulo z^L = 1
    [InlineData(2, 64, 64)]      // d = L
    [InlineData(3, 1, 9, false)] // d = 1: A = a, a scalar system
    [InlineData(3, 1, 9)]        // d = 1 normalised: a = ±1, an eigenvalue on the unit circle
    [InlineData(2, 24, 50, false)]
    public void WoodburyKernel_EqualsTheNaiveKrylovInFloat32(int h, int d, int length, bool normalize = true)
    {
        var ssm = new CompanionSsm(h, d, normalizeA: normalize, generator: new Generator((ulong)(d + length)));
        if (!normalize) using (Autograd.Autograd.NoGrad()) ssm.A.CopyFrom(ssm.A * (0.8 / Math.Sqrt(d)));
        var expected = NaiveKernels(ssm, length).SelectMany(r => r).ToArray();
        var fast = ssm.Kernel(length);
        Assert.Equal(DType.Float32, fast.DType);
        Assert.Equal(new[] { h, length }, fast.Shape);
        double worst = expected.Zip(fast.ToDoubleArray(), (p, q) => Math.Abs(p - q)).Max();
        Assert.True(worst < 1e-4, $"max |Woodbury - naive| = {worst:G4}");
    }

    [Fact]
    public void WoodburyKernel_HandlesAnEigenvalueAtOne()
    {
        // An L1-normalised a with positive entries sums to 1, so z = 1 is a root of the characteristic polynomial.
        var ssm = new CompanionSsm(2, 5, generator: new Generator(2));
        using (Autograd.Autograd.NoGrad()) ssm.A.CopyFrom(ssm.A.Abs() + 0.1);
        var expected = NaiveKernels(ssm, 32).SelectMany(r => r).ToArray();
        double worst = expected.Zip(ssm.Kernel(32).ToDoubleArray(), (p, q) => Math.Abs(p - q)).Max();
        Assert.True(worst < 1e-4, $"max |Woodbury - naive| = {worst:G4}");
    }

    [Fact]
    public void KrylovKernel_EqualsTheNaiveKernelInFloat64_WithoutNormalisation()
    {
        var ssm = new CompanionSsm(3, 6, normalizeA: false, kernelMethod: CompanionKernelMethod.Krylov, generator: new Generator(3));
        ssm.To(DType.Float64);
        using (Autograd.Autograd.NoGrad()) ssm.A.CopyFrom(ssm.A * 0.3);   // spectral radius below 1, so powers stay informative
        AssertClose(NaiveKernels(ssm, 45).SelectMany(r => r).ToArray(), ssm.Kernel(45).ToDoubleArray(), 1e-10, "K");
    }

    [Fact]
    public void NormalizeL1_DividesByTheL1Norm_AndLeavesANearZeroColumnAlone()
    {
        var a = Tensor.FromArray(new double[] { 1, -3, 0, 0, 1e-6, -1e-6 }, [2, 3]);
        var normalized = CompanionKernel.NormalizeL1(a).ToDoubleArray();
        AssertClose(new[] { 0.25, -0.75, 0, 0, 1e-6, -1e-6 }, normalized, 1e-15, "a");
    }

    [Theory]
    [InlineData(new[] { 0.5, -0.3 }, 2)]
    [InlineData(new[] { 0.4, 0.2, -0.3, 0.1 }, 4)]
    [InlineData(new[] { 1.2, -0.5 }, 5)]          // d > p: the extra state entries stay unused
    public void CompanionWithArCoefficients_ReproducesTheArProcess(double[] phi, int d)
    {
        // y_t = Σ_i φ_i y_{t-i} + u_t from zeros, against the layer with a = φ (reversed into the last column), b = c = e_d.
        const int length = 50;
        var noise = Randn64(5, 1, length, 1);
        var u = noise.ToDoubleArray();
        var y = new double[length];
        for (int t = 0; t < length; t++)
        {
            y[t] = u[t];
            for (int i = 0; i < phi.Length && t - 1 - i >= 0; i++) y[t] += phi[i] * y[t - 1 - i];
        }
        foreach (var method in new[] { CompanionKernelMethod.Woodbury, CompanionKernelMethod.Krylov })
        {
            var ssm = new CompanionSsm(1, d, normalizeA: false, kernelMethod: method);
            ssm.To(DType.Float64);
            var eD = new double[d];
            eD[^1] = 1;
            using (Autograd.Autograd.NoGrad())
            {
                ssm.A.CopyFrom(Tensor.FromArray(CompanionSsm.ArCoefficientsAsLastColumn(phi, d), [1, d]));
                ssm.B.CopyFrom(Tensor.FromArray(eD, [1, d]));
                ssm.C.CopyFrom(Tensor.FromArray(eD, [1, d]));
            }
            AssertClose(y, ssm.Forward(noise).ToDoubleArray(), 1e-9, $"AR via {method}");
        }
    }

    [Fact]
    public void Forward_EqualsTheDirectCausalConvolutionPlusSkip()
    {
        const int h = 3, length = 21;
        var ssm = new CompanionSsm(h, 5, skip: true, generator: new Generator(7));
        ssm.To(DType.Float64);
        using (Autograd.Autograd.NoGrad()) ssm.D!.CopyFrom(Tensor.FromArray(new double[] { 0.5, -1, 2 }));
        var u = Randn64(8, 2, length, h);
        var k = NaiveKernels(ssm, length);
        var uv = u.ToDoubleArray();
        var expected = new double[uv.Length];
        var skip = new[] { 0.5, -1, 2 };
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < length; t++)
                for (int i = 0; i < h; i++)
                {
                    double s = skip[i] * uv[(b * length + t) * h + i];
                    for (int j = 0; j <= t; j++) s += k[i][t - j] * uv[(b * length + j) * h + i];
                    expected[(b * length + t) * h + i] = s;
                }
        AssertClose(expected, ssm.Forward(u).ToDoubleArray(), 1e-10, "y");
    }

    [Theory]
    [InlineData(CompanionKernelMethod.Woodbury, 6)]
    [InlineData(CompanionKernelMethod.Krylov, 6)]
    [InlineData(CompanionKernelMethod.Woodbury, 11)]   // d > L
    public void Gradients_OfAllParameters_MatchFiniteDifferences(CompanionKernelMethod method, int d)
    {
        var ssm = new CompanionSsm(2, d, skip: true, kernelMethod: method, generator: new Generator(13));
        ssm.To(DType.Float64);
        var u = Randn64(14, 2, 9, 2);
        var weights = Randn64(15, 2, 9, 2);
        AssertParameterGradients(ssm, () => (ssm.Forward(u) * weights).Sum(), perTensor: 64);
    }

    [Fact]
    public void BadShapes_NameTheLayerAndTheShape()
    {
        var ssm = new CompanionSsm(4, 8);
        var e = Assert.Throws<ArgumentException>(() => ssm.Forward(Tensor.Zeros(2, 10, 3)));
        Assert.Contains("CompanionSsm", e.Message);
        Assert.Contains("[2,10,3]", e.Message);
        Assert.Throws<ArgumentException>(() => ssm.Forward(Tensor.Zeros(10, 4)));
        Assert.Throws<ArgumentException>(() => new CompanionSsm(0, 8));
        Assert.Throws<ArgumentException>(() => new CompanionSsm(2, 0));
        Assert.Contains("share the shape", Assert.Throws<ArgumentException>(() =>
            CompanionKernel.Woodbury(Tensor.Zeros(2, 3), Tensor.Zeros(2, 4), Tensor.Zeros(2, 3), 8)).Message);
        Assert.Contains("length", Assert.Throws<ArgumentException>(() => ssm.Kernel(0)).Message);
        Assert.Throws<ArgumentException>(() => CompanionKernel.Krylov(Tensor.Zeros(2, 3, 4), Tensor.Zeros(2, 3, 1), 4));
        Assert.Throws<ArgumentException>(() => CompanionSsm.ArCoefficientsAsLastColumn([0.1, 0.2, 0.3], 2));
    }
}
