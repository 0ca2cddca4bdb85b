using System.Numerics;
using Engine.Autograd;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Ssm;

/// <summary>The S4D layer against naive complex-number loops: kernel, convolution, recurrence, initialisations, gradients.</summary>
public class S4DTests
{
    // A Float64 layer whose A and dt are perturbed away from the initialisation (so no formula hides behind the
    // structure of the init), dt kept in a range where the powers of Abar stay informative.
    static S4D Layer(int h, int n, S4DDiscretization discretization, ulong seed, DType dtype = DType.Float64, S4DInit init = S4DInit.Lin)
    {
        var s4d = new S4D(h, n, init, discretization, dtMin: 0.01, dtMax: 0.2, generator: new Generator(seed));
        using (Autograd.Autograd.NoGrad())
        {
            s4d.LogAReal.CopyFrom(s4d.LogAReal + Tensor.Randn(s4d.LogAReal.Shape, 0, 0.3, generator: new Generator(seed + 1)));
            s4d.AImag.CopyFrom(s4d.AImag + Tensor.Randn(s4d.AImag.Shape, 0, 0.5, generator: new Generator(seed + 2)));
        }
        s4d.To(dtype);
        return s4d;
    }

    // K[h, l] = 2 Re(sum_n C_n Bbar_n Abar_n^l) with System.Numerics.Complex, discretising from the parameters by the
    // formulas of the S4D paper (section 2.2).
    static double[,] NaiveKernel(S4D s4d, int length)
    {
        int h = s4d.Channels, half = s4d.StateSize / 2;
        var logDt = s4d.LogDt.ToDoubleArray();
        var logAReal = s4d.LogAReal.ToDoubleArray();
        var aImag = s4d.AImag.ToDoubleArray();
        var c = s4d.C.ToDoubleArray();
        var k = new double[h, length];
        for (int i = 0; i < h; i++)
        {
            double dt = Math.Exp(logDt[i]);
            for (int n = 0; n < half; n++)
            {
                var a = new Complex(-Math.Exp(logAReal[i * half + n]), aImag[i * half + n]);
                var cn = new Complex(c[(i * half + n) * 2], c[(i * half + n) * 2 + 1]);
                Complex aBar, bBar;
                if (s4d.Discretization == S4DDiscretization.Zoh)
                {
                    aBar = Complex.Exp(dt * a);
                    bBar = (aBar - 1) / a;
                }
                else
                {
                    aBar = (1 + dt * a / 2) / (1 - dt * a / 2);
                    bBar = dt / (1 - dt * a / 2);
                }
                for (int l = 0; l < length; l++) k[i, l] += 2 * (cn * bBar * Complex.Pow(aBar, l)).Real;
            }
        }
        return k;
    }

    [Theory]
    [InlineData(S4DDiscretization.Zoh)]
    [InlineData(S4DDiscretization.Bilinear)]
    public void Kernel_EqualsTheNaiveVandermondeSum(S4DDiscretization discretization)
    {
        var s4d = Layer(3, 8, discretization, 11);
        const int length = 37;
        var expected = NaiveKernel(s4d, length);
        var actual = s4d.Kernel(length);
        Assert.Equal(new[] { 3, length }, actual.Shape);
        AssertClose(expected.Cast<double>().ToArray(), actual.ToDoubleArray(), 1e-10, "K");
    }

    [Theory]
    [InlineData(S4DDiscretization.Zoh, 20)]
    [InlineData(S4DDiscretization.Bilinear, 33)]
    public void FftConvolution_EqualsTheDirectCausalConvolution(S4DDiscretization discretization, int length)
    {
        var s4d = Layer(4, 6, discretization, 21);
        var u = Randn64(22, 2, length, 4);
        var k = NaiveKernel(s4d, length);
        var d = s4d.D.ToDoubleArray();
        var uv = u.ToDoubleArray();
        var expected = new double[2 * length * 4];
        // y[b, t, h] = sum_{j <= t} K[h, t - j] u[b, j, h] + D[h] u[b, t, h].
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < length; t++)
                for (int h = 0; h < 4; h++)
                {
                    double s = d[h] * uv[(b * length + t) * 4 + h];
                    for (int j = 0; j <= t; j++) s += k[h, t - j] * uv[(b * length + j) * 4 + h];
                    expected[(b * length + t) * 4 + h] = s;
                }
        var y = s4d.Forward(u);
        Assert.Equal(u.Shape, y.Shape);
        AssertClose(expected, y.ToDoubleArray(), 1e-9, "y");
    }

    [Fact]
    public void FusedFftConvolution_MatchesTheComposedRfftIrfft_InValuesAndGradients()
    {
        // The fused op against the composite it replaces (rfft, complex product, irfft), forward and backward.
        var gen = new Generator(31);
        var u = Tensor.Randn([2, 5, 300], dtype: DType.Float64, generator: gen).RequireGrad();
        var k = Tensor.Randn([5, 300], dtype: DType.Float64, generator: gen).RequireGrad();
        var weights = Tensor.Randn([2, 5, 300], dtype: DType.Float64, generator: gen);
        var fused = S4D.FftConvolution(u, k);
        var (fusedU, fusedK) = Grads((fused * weights).Sum(), u, k);
        var composed = S4D.ComposedFftConvolution(u, k);
        var (composedU, composedK) = Grads((composed * weights).Sum(), u, k);
        AssertClose(composed.ToDoubleArray(), fused.ToDoubleArray(), 1e-11, "y");
        AssertClose(composedU, fusedU, 1e-11, "du");
        AssertClose(composedK, fusedK, 1e-11, "dk");
    }

    static (double[], double[]) Grads(Tensor loss, Tensor u, Tensor k)
    {
        var g = Engine.Autograd.Autograd.Grad(loss, [u, k]);
        return (g[0].ToDoubleArray(), g[1].ToDoubleArray());
    }

    [Theory]
    [InlineData(S4DDiscretization.Zoh, S4DInit.Lin)]
    [InlineData(S4DDiscretization.Bilinear, S4DInit.Inv)]
    [InlineData(S4DDiscretization.Zoh, S4DInit.LegS)]
    public void StepMode_EqualsConvolutionModeOverLength512InFloat32(S4DDiscretization discretization, S4DInit init)
    {
        var s4d = new S4D(8, 16, init, discretization, generator: new Generator(31));
        var u = Randn(32, 2, 512, 8);
        var convTensor = s4d.Forward(u);
        Assert.Equal(DType.Float32, convTensor.DType);
        var conv = convTensor.ToDoubleArray();
        Assert.All(s4d.Parameters(), p => Assert.Equal(DType.Float32, p.DType));
        var state = new S4DState();
        var steps = new Tensor[512];
        for (int t = 0; t < 512; t++) steps[t] = s4d.Step(u.Select(1, t), state);
        var recurrentTensor = Tensor.Stack(steps, 1);
        Assert.Equal(DType.Float32, recurrentTensor.DType);
        var recurrent = recurrentTensor.ToDoubleArray();
        Assert.Equal(512, state.Length);
        double worst = conv.Zip(recurrent, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst < 1e-4, $"max |conv - step| = {worst:G4}");
    }

    [Fact]
    public void ForwardWithAState_ContinuesTheSequenceLikeTheConvolution()
    {
        var s4d = Layer(3, 8, S4DDiscretization.Zoh, 41);
        var u = Randn64(42, 2, 9, 3);
        var state = new S4DState();
        var pieces = new[] { s4d.Forward(u.Narrow(1, 0, 5), state), s4d.Forward(u.Narrow(1, 5, 4), state) };
        AssertClose(s4d.Forward(u), Tensor.Concat(pieces, 1), 1e-10, "y");
        Assert.Equal(9, state.Length);
    }

    [Fact]
    public void Initialisations_FollowTheFormulasOfTheS4DPaper()
    {
        const int n = 16;
        var lin = new S4D(2, n, S4DInit.Lin);
        var inv = new S4D(2, n, S4DInit.Inv);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < n / 2; k++)
            {
                AssertClose(0.5, Math.Exp(lin.LogAReal.ToDoubleArray()[h * n / 2 + k]), 1e-6, "Lin Re");
                AssertClose(Math.PI * k, lin.AImag.ToDoubleArray()[h * n / 2 + k], 1e-6, "Lin Im");
                AssertClose(0.5, Math.Exp(inv.LogAReal.ToDoubleArray()[h * n / 2 + k]), 1e-6, "Inv Re");
                AssertClose(n / Math.PI * (n / (2.0 * k + 1) - 1), inv.AImag.ToDoubleArray()[h * n / 2 + k], 1e-6, "Inv Im");
            }
    }

    [Theory]
    [InlineData(8)]
    [InlineData(32)]
    public void LegSInitialisation_IsTheSpectrumOfTheNormalPartOfHippoLegS(int n)
    {
        // HiPPO-LegS: A_nk = -sqrt(2n+1) sqrt(2k+1) (n > k), -(n+1) (n = k), 0 (n < k); P_n = sqrt(n + 1/2).
        var hippo = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(n, n, (i, k) =>
            i > k ? -Math.Sqrt(2.0 * i + 1) * Math.Sqrt(2.0 * k + 1) : i == k ? -(i + 1.0) : 0);
        var p = MathNet.Numerics.LinearAlgebra.Vector<double>.Build.Dense(n, i => Math.Sqrt(i + 0.5));
        var normal = hippo + p.OuterProduct(p);
        var eigenvalues = normal.Evd().EigenValues.Where(z => z.Imaginary > 0).OrderBy(z => z.Imaginary).ToArray();
        Assert.Equal(n / 2, eigenvalues.Length);

        var (re, im) = S4DInit.LegS.Eigenvalues(n);
        AssertClose(eigenvalues.Select(z => z.Real).ToArray(), re, 1e-8, "Re");
        AssertClose(eigenvalues.Select(z => z.Imaginary).ToArray(), im, 1e-8, "Im");
        var layer = new S4D(3, n, S4DInit.LegS);
        AssertClose(Enumerable.Range(0, 3).SelectMany(_ => eigenvalues.Select(z => z.Imaginary)).ToArray(), layer.AImag.ToDoubleArray(), 1e-5, "A_imag");
    }

    [Fact]
    public void Initialisation_DrawsDtInItsRangeAndTheReadoutsWithTheirVariances()
    {
        var s4d = new S4D(256, 64, generator: new Generator(5));
        var dt = s4d.LogDt.Exp().ToDoubleArray();
        Assert.All(dt, v => Assert.InRange(v, 0.001, 0.1));
        var c = s4d.C.ToDoubleArray();
        AssertClose(0.5, c.Select(v => v * v).Average(), 0.05, "Var C part");
        var d = s4d.D.ToDoubleArray();
        AssertClose(1.0, d.Select(v => v * v).Average(), 0.3, "Var D");
    }

    [Theory]
    [InlineData(S4DDiscretization.Zoh)]
    [InlineData(S4DDiscretization.Bilinear)]
    public void S4D_GradientsMatchFiniteDifferences(S4DDiscretization discretization)
    {
        var s4d = Layer(3, 4, discretization, 51);
        var u = Randn64(52, 2, 7, 3);
        AssertInputGradients(xs => s4d.Forward(xs[0]), u);
        AssertParameterGradients(s4d, () => s4d.Forward(u));
    }

    [Fact]
    public void Step_GradientsMatchFiniteDifferences()
    {
        var s4d = Layer(3, 4, S4DDiscretization.Zoh, 61);
        var u = Randn64(62, 2, 4, 3);
        AssertParameterGradients(s4d, () => s4d.Forward(u, new S4DState()));
    }

    [Fact]
    public void Forward_RejectsTheWrongNumberOfChannels()
    {
        var s4d = new S4D(3, 4);
        var e = Assert.Throws<ArgumentException>(() => s4d.Forward(Tensor.Zeros(1, 5, 4)));
        Assert.Contains("[1,5,4]", e.Message);
        Assert.Throws<ArgumentException>(() => new S4D(3, 5));
    }
}
