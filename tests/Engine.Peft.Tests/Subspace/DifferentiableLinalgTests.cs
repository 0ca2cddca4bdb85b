using Engine.Autograd;
using Engine.Peft.Subspace;
using Xunit;
using static Engine.Peft.Tests.Subspace.SubspaceTestSupport;

namespace Engine.Peft.Tests.Subspace;

/// <summary>The differentiable QR (LAPACK's signs) and inverse: values against independent references, gradients against central differences.</summary>
public class DifferentiableLinalgTests
{
    static readonly double[] A = [2, -1, 0.5, -3, 0.25, 1, 1, 2, -2, 0.5, -1.5, 3, -1, 1, 1];

    [Fact]
    public void Qr_GivesPyTorchsQ_WithLapacksSigns()
    {
        // torch.linalg.qr(A) in float64 (LAPACK geqrf/orgqr), whose R has diagonal [-3.905, 2.811, -2.383].
        double[] expected = [-0.5121475197315837, -0.2390932221582253, -0.10535199256893428, 0.7682212795973757, -0.08601524455692251,
            -0.02382864587926317, -0.2560737598657919, 0.7697635445094084, -0.21347855349367328, -0.12803687993289595,
            -0.5044283833338168, -0.6802588768819806, 0.2560737598657919, 0.29740864219681684, -0.6928260394347427];
        var q = DifferentiableQr.Q(Tensor.FromArray(A, [5, 3]));
        AssertClose(expected, q.ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void Qr_QHasOrthonormalColumns_AndQTransposeAIsUpperTriangular()
    {
        var a = Tensor.Randn([9, 4], 0, 1, DType.Float64, new Generator(4));
        var q = DifferentiableQr.Q(a).ToDoubleArray();
        AssertClose(Identity(4), Mul(Transpose(q, 9, 4), q, 4, 9, 4), 1e-12);
        var r = Mul(Transpose(q, 9, 4), a.ToDoubleArray(), 4, 9, 4);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < i; j++) Assert.True(Math.Abs(r[i * 4 + j]) < 1e-12, $"R[{i},{j}] = {r[i * 4 + j]}");
        AssertClose(a.ToDoubleArray(), Mul(q, r, 9, 4, 4), 1e-12);
    }

    [Theory]
    [InlineData(6, 3)]
    [InlineData(4, 4)]
    [InlineData(7, 1)]
    public void Qr_GradientMatchesCentralDifferences(int m, int n)
    {
        var a = Tensor.Randn([m, n], 0, 1, DType.Float64, new Generator((ulong)(10 * m + n)));
        var result = GradCheck.Check(x => DifferentiableQr.Q(x[0]), [a], new GradCheckOptions(Atol: 1e-7, Rtol: 1e-5));
        Assert.True(result.Passed, result.Message);
    }

    [Fact]
    public void Qr_RefusesAWideMatrix()
    {
        var e = Assert.Throws<ArgumentException>(() => DifferentiableQr.Q(Tensor.Zeros(2, 3)));
        Assert.Contains("[2,3]", e.Message.Replace(" ", ""));
    }

    [Fact]
    public void Inverse_MatchesGaussJordan_AndItsGradientMatchesCentralDifferences()
    {
        var a = Tensor.Randn([5, 5], 0, 1, DType.Float64, new Generator(6)) + Tensor.Eye(5, dtype: DType.Float64) * 3;
        AssertClose(Inverse(a.ToDoubleArray(), 5), DifferentiableInverse.Of(a).ToDoubleArray(), 1e-12);
        var result = GradCheck.Check(x => DifferentiableInverse.Of(x[0]), [a], new GradCheckOptions(Atol: 1e-7, Rtol: 1e-5));
        Assert.True(result.Passed, result.Message);
    }

    [Fact]
    public void BothOps_GiveTheCpusValuesAndGradientsOnIlgpu()
    {
        var a = Tensor.Randn([6, 3], 0, 1, DType.Float32, new Generator(8));
        var sq = Tensor.Randn([3, 3], 0, 1, DType.Float32, new Generator(9)) + Tensor.Eye(3) * 3;
        var w = Tensor.Randn([6, 3], 0, 1, DType.Float32, new Generator(10));
        (double[] Value, double[] GradA, double[] GradSq) Run(Device d)
        {
            var (ad, sd) = (a.To(d).Detach(), sq.To(d).Detach());
            ad.RequiresGrad = sd.RequiresGrad = true;
            var y = DifferentiableQr.Q(ad) % DifferentiableInverse.Of(sd);
            Assert.Equal(d, y.Device);
            var grads = Autograd.Autograd.Grad((y * w.To(d)).Sum(), [ad, sd]);
            return (y.To(Device.Cpu).ToDoubleArray(), grads[0].To(Device.Cpu).ToDoubleArray(), grads[1].To(Device.Cpu).ToDoubleArray());
        }
        var cpu = Run(Device.Cpu);
        var ilgpu = Run(Device.IlgpuCpu);
        AssertClose(cpu.Value, ilgpu.Value, 1e-5);
        AssertClose(cpu.GradA, ilgpu.GradA, 1e-4);
        AssertClose(cpu.GradSq, ilgpu.GradSq, 1e-4);
    }
}
