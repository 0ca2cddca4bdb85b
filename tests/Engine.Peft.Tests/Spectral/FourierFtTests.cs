using Engine.Peft.Spectral;
using Xunit;
using static Engine.Peft.Tests.Spectral.SpectralTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Spectral;

/// <summary>FourierFT: ΔW is the (real part of the) inverse 2-D DFT of a spectrum that is zero off n drawn positions.</summary>
public class FourierFtTests
{
    static FourierFtLayer FourierFt(int inF, int outF, FourierFtConfig config) => Layer(l => new FourierFtLayer(l), inF, outF, config);

    [Fact]
    public void Update_IsTheInverseDftOfASparseSpectrum()
    {
        // The forward DFT of ΔW = s Re(IFFT2(F)) is s (F[u, v] + conj F[−u, −v]) / 2: zero except at the positions
        // and their mirrors, and s c / 2 at a position whose mirror is not also a position (naive DFT, float64).
        const int inF = 6, outF = 5, n = 7;
        const double scaling = 3.5;
        var layer = FourierFt(inF, outF, new FourierFtConfig { NFrequency = n, Scaling = scaling, RandomLocSeed = 21 });
        var c = layer.Spectrum("a").ToDoubleArray();
        var positions = layer.Positions("a").ToArray();
        Assert.Equal(TorchRandperm.First(inF * outF, n, 21), positions);

        var (re, im) = Dft2(layer.DeltaWeight("a").ToDoubleArray(), outF, inF);
        long Mirror(long p) => (outF - p / inF) % outF * inF + (inF - p % inF) % inF;
        var expectedRe = new double[outF * inF];
        for (int k = 0; k < n; k++)
        {
            expectedRe[positions[k]] += scaling * c[k] / 2;
            expectedRe[Mirror(positions[k])] += scaling * c[k] / 2;
        }
        AssertClose(expectedRe, re, 1e-10);
        // Off the positions and mirrors the spectrum of ΔW vanishes entirely.
        var support = positions.Concat(positions.Select(Mirror)).ToHashSet();
        for (int i = 0; i < outF * inF; i++)
            if (!support.Contains(i)) Assert.True(Math.Abs(re[i]) < 1e-10 && Math.Abs(im[i]) < 1e-10, $"spectrum at {i}: {re[i]} + {im[i]}i");
    }

    [Fact]
    public void OneCoefficientAtTheOrigin_GivesAConstantUpdate()
    {
        // The spec's oracle: c at (0, 0) gives ΔW = s c / (out in) everywhere. Every other coefficient is zeroed.
        const int inF = 4, outF = 3;
        var layer = FourierFt(inF, outF, new FourierFtConfig { NFrequency = inF * outF, Scaling = 2 });
        int origin = layer.Positions("a").ToList().IndexOf(0);
        var c = new double[inF * outF];
        c[origin] = 1.5;
        Set(layer.Spectrum("a"), c);
        Assert.All(layer.DeltaWeight("a").ToDoubleArray(), v => Assert.Equal(2 * 1.5 / (inF * outF), v, 12));
    }

    [Fact]
    public void Forward_AddsTheUpdate_WithGradients()
    {
        var layer = FourierFt(5, 4, new FourierFtConfig { NFrequency = 6, Scaling = 2 });
        var x = Randn64(3, 2, 5);
        var expected = NaiveMatMulT(x.ToDoubleArray(), 2, layer.DeltaWeight("a").ToDoubleArray(), 5, 4);
        var baseOut = layer.BaseLayer.Forward(x).ToDoubleArray();
        AssertClose(expected.Select((v, i) => v + baseOut[i]).ToArray(), layer.Forward(x).ToDoubleArray(), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void DefaultInit_IsRandom_AndInitWeightsTrueStartsAtTheBase()
    {
        Assert.Contains(FourierFt(4, 4, new FourierFtConfig { NFrequency = 5 }).Spectrum("a").ToDoubleArray(), v => v != 0);
        Assert.All(FourierFt(4, 4, new FourierFtConfig { NFrequency = 5, InitWeights = true }).Spectrum("a").ToDoubleArray(), v => Assert.Equal(0, v));
    }

    [Fact]
    public void TooManyFrequencies_AreRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => FourierFt(4, 3, new FourierFtConfig { NFrequency = 13 }));
        Assert.Contains("n_frequency", e.Message);
    }
}
