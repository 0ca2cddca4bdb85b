using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>The LoRA/DoRA layer on its own: formula, gradients, scales and initialisations.</summary>
public class LoraLayerTests
{
    static readonly ModulePath Where = new("layer", "layer");

    static LoraLayer Layer(LoraConfig config, int inF = 5, int outF = 4, ulong seed = 3)
    {
        var lin = new Linear(inF, outF, bias: true, new Generator(seed));
        var layer = new LoraLayer(lin);
        layer.AddAdapter(AdapterContext.Standalone("default", config, Where.Engine));
        layer.SetActive(["default"]);
        return layer;
    }

    [Fact]
    public void LoraForward_EqualsBasePlusScaledLowRankProduct()
    {
        var layer = Layer(new LoraConfig { R = 3, LoraAlpha = 6, InitLoraWeights = LoraInit.Random, Seed = 1 });
        var x = Randn(5, 7, 5);
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var ba = NaiveProduct(layer.LoraB("default").ToDoubleArray(), layer.LoraA("default").ToDoubleArray(), 4, 3, 5);
        // W' = W + (alpha / r) B A, alpha / r = 2.
        var effective = w.Select((v, i) => v + 2.0 * ba[i]).ToArray();
        var expected = NaiveMatMulT(x.ToDoubleArray(), 7, effective, 5, 4).Select((v, i) => v + bias[i % 4]).ToArray();
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void DefaultInit_LeavesOutputUnchangedAndBZero()
    {
        var layer = Layer(new LoraConfig { R = 2, Seed = 4 });
        Assert.All(layer.LoraB("default").ToDoubleArray(), v => Assert.Equal(0.0, v));
        Assert.Contains(layer.LoraA("default").ToDoubleArray(), v => v != 0);
        // Kaiming-uniform with a = sqrt 5 on fan_in 5: bound sqrt(6 / (6 * 5)) = 1 / sqrt 5.
        Assert.All(layer.LoraA("default").ToDoubleArray(), v => Assert.InRange(Math.Abs(v), 0, 1 / Math.Sqrt(5) + 1e-7));
        var x = Randn(2, 3, 5);
        AssertClose(layer.BaseLayer.Forward(x), layer.Forward(x), 0);
    }

    [Fact]
    public void GaussianInit_DrawsAWithStdOneOverR()
    {
        var layer = Layer(new LoraConfig { R = 4, InitLoraWeights = LoraInit.Gaussian, Seed = 2 }, inF: 400, outF: 3);
        var a = layer.LoraA("default").ToDoubleArray();
        double std = Math.Sqrt(a.Select(v => v * v).Average());
        Assert.InRange(std, 0.25 * 0.93, 0.25 * 1.07);
        Assert.All(layer.LoraB("default").ToDoubleArray(), v => Assert.Equal(0.0, v));
    }

    [Theory]
    [InlineData(false, 4, 8, 2.0)]
    [InlineData(true, 4, 8, 4.0)]
    [InlineData(true, 16, 8, 2.0)]
    public void Scaling_IsAlphaOverROrOverSqrtR(bool rs, int r, double alpha, double expected)
    {
        var layer = Layer(new LoraConfig { R = r, LoraAlpha = alpha, UseRsLora = rs }, inF: 20, outF: 20);
        Assert.Equal(expected, layer.Settings("default").Scaling, 12);
    }

    [Fact]
    public void Lora_GradientsMatchFiniteDifferences()
    {
        var layer = Layer(new LoraConfig { R = 2, LoraAlpha = 3, InitLoraWeights = LoraInit.Random, Seed = 5 });
        layer.To(DType.Float64);
        layer.BaseLayer.RequiresGrad(false);
        var x = Randn64(8, 2, 3, 5);
        AssertInputGradients(xs => layer.Forward(xs[0]), x);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void Dora_ExactGradientsMatchFiniteDifferences()
    {
        // With the norm differentiated, every tensor's gradient is the exact derivative.
        var layer = Layer(new LoraConfig { R = 2, LoraAlpha = 3, UseDora = true, DoraDetachNorm = false, InitLoraWeights = LoraInit.Random, Seed = 6 });
        layer.To(DType.Float64);
        layer.BaseLayer.RequiresGrad(false);
        Scramble(layer.Magnitude("default")!, 11, 1);
        var x = Randn64(9, 2, 3, 5);
        AssertInputGradients(xs => layer.Forward(xs[0]), x);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void Dora_DetachedNormGradientsMatchFiniteDifferencesForInputAndMagnitude()
    {
        // The paper's detached norm (section 4.3) does not depend on x or m, so their gradients stay exact.
        var layer = Layer(new LoraConfig { R = 2, LoraAlpha = 3, UseDora = true, InitLoraWeights = LoraInit.Random, Seed = 6 });
        layer.To(DType.Float64);
        layer.BaseLayer.RequiresGrad(false);
        layer.LoraA("default").RequiresGrad = false;
        layer.LoraB("default").RequiresGrad = false;
        Scramble(layer.Magnitude("default")!, 12, 1);
        var x = Randn64(10, 4, 5);
        AssertInputGradients(xs => layer.Forward(xs[0]), x);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void Dora_DetachedNormGradientOfBOmitsTheNormTerm()
    {
        // d/dB of sum(y * v) with the norm held constant: scale_o * s * sum_n v[n,o] (A x_n)_k, scale = m / ||V||_c.
        var layer = Layer(new LoraConfig { R = 2, LoraAlpha = 2, UseDora = true, InitLoraWeights = LoraInit.Random, Seed = 8 });
        layer.To(DType.Float64);
        Scramble(layer.Magnitude("default")!, 3, 1);
        var x = Randn64(4, 3, 5);
        var v = Randn64(5, 3, 4);
        var b = layer.LoraB("default");
        var grad = Autograd.Autograd.Grad((layer.Forward(x) * v).Sum(), [b])[0].ToDoubleArray();
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var a = layer.LoraA("default").ToDoubleArray();
        var ba = NaiveProduct(b.ToDoubleArray(), a, 4, 2, 5);
        var m = layer.Magnitude("default")!.ToDoubleArray();
        var ax = NaiveMatMulT(x.ToDoubleArray(), 3, a, 5, 2);
        var vv = v.ToDoubleArray();
        var expected = new double[8];
        for (int o = 0; o < 4; o++)
        {
            double norm = Math.Sqrt(Enumerable.Range(0, 5).Sum(i => Math.Pow(w[o * 5 + i] + ba[o * 5 + i], 2)));
            for (int k = 0; k < 2; k++)
                expected[o * 2 + k] = m[o] / norm * Enumerable.Range(0, 3).Sum(n => vv[n * 4 + o] * ax[n * 2 + k]);
        }
        AssertClose(expected, grad, 1e-10);
    }

    [Fact]
    public void Dora_StartsAtTheBaseOutputAndMagnitudeIsRowNorm()
    {
        var layer = Layer(new LoraConfig { R = 2, UseDora = true, Seed = 3 });
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var expectedNorms = Enumerable.Range(0, 4).Select(o => Math.Sqrt(Enumerable.Range(0, 5).Sum(i => w[o * 5 + i] * w[o * 5 + i]))).ToArray();
        AssertClose(expectedNorms, layer.Magnitude("default")!.ToDoubleArray(), 1e-6);
        var x = Randn(1, 3, 5);
        AssertClose(layer.BaseLayer.Forward(x), layer.Forward(x), 1e-6);
    }

    [Theory]
    [InlineData(LoraInit.Pissa)]
    [InlineData(LoraInit.Olora)]
    public void PrincipalInit_KeepsOutputAndLeavesResidualInBase(LoraInit init)
    {
        var lin = new Linear(6, 5, bias: true, new Generator(21));
        var original = lin.Weight.ToDoubleArray();
        var x = Randn(2, 4, 6);
        var before = lin.Forward(x).ToDoubleArray();
        var layer = new LoraLayer(lin);
        layer.AddAdapter(AdapterContext.Standalone("default", new LoraConfig { R = 2, LoraAlpha = 4, InitLoraWeights = init }, Where.Engine));
        layer.SetActive(["default"]);
        AssertClose(before, layer.Forward(x).ToDoubleArray(), 1e-5, "output at step 0");

        var a = layer.LoraA("default").ToDoubleArray();
        var b = layer.LoraB("default").ToDoubleArray();
        var ba = NaiveProduct(b, a, 5, 2, 6);
        var residual = layer.BaseLayer.Weight.ToDoubleArray();
        // residual = W - s B A with s = alpha / r = 2.
        AssertClose(original.Select((v, i) => v - 2 * ba[i]).ToArray(), residual, 1e-5, "residual");

        if (init == LoraInit.Pissa)
        {
            // s B A is the best rank-2 approximation: the residual's largest singular value is W's third.
            var (_, sw, _) = Linalg.Svd(Tensor.FromArray(original, [5, 6]));
            var (_, sr, _) = Linalg.Svd(layer.BaseLayer.Weight);
            Assert.Equal(sw.ToDoubleArray()[2], sr.ToDoubleArray()[0], 4);
            // and A's rows are orthogonal (scaled right singular vectors).
            var aat = NaiveProduct(a, Transpose(a, 2, 6), 2, 6, 2);
            Assert.Equal(0, aat[1], 4);
        }
        else
        {
            // B = Q[:, :r] has orthonormal columns, A = R[:r] is upper triangular.
            var btb = NaiveProduct(Transpose(b, 5, 2), b, 2, 5, 2);
            AssertClose([1, 0, 0, 1], btb, 1e-5, "B^T B");
            Assert.Equal(0, a[6], 6);
        }
    }

    static double[] Transpose(double[] m, int rows, int cols)
    {
        var t = new double[m.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j];
        return t;
    }

    [Fact]
    public void AdapterDropout_IsActiveInTrainingAndIdentityInEval()
    {
        var layer = Layer(new LoraConfig { R = 2, LoraDropout = 0.5, InitLoraWeights = LoraInit.Random, Seed = 9 });
        var x = Randn(3, 16, 5);
        layer.Train();
        var trained = layer.Forward(x);
        layer.Eval();
        var eval = layer.Forward(x).ToDoubleArray();
        Assert.NotEqual(eval, trained.ToDoubleArray());
        // The base path never sees dropout: with the adapter disabled the output is the base output in both modes.
        layer.Train();
        layer.Disabled = true;
        AssertClose(layer.BaseLayer.Forward(x), layer.Forward(x), 0);
    }
}
