using Engine.Peft.Spectral;
using Xunit;
using static Engine.Peft.Tests.Spectral.SpectralTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Spectral;

/// <summary>WaveFT (db1): each coefficient spreads over one 2 × 2 block with the Haar sign pattern; the transform is orthonormal.</summary>
public class WaveFtTests
{
    static WaveFtLayer WaveFt(int inF, int outF, WaveFtConfig config) => Layer(l => new WaveFtLayer(l), inF, outF, config);

    [Fact]
    public void OneCoefficient_GivesTheHaarPattern()
    {
        // A coefficient c at (row, col) of quadrant (qr, qc) of the [out, in] grid (h = out / 2, w = in / 2) lands on
        // rows 2 (row mod h) + a, columns 2 (col mod w) + b with value s c / 2 · (−1)^(a·qc) (−1)^(b·qr): cH (top
        // right) alternates along rows, cV (bottom left) along columns.
        const int inF = 6, outF = 4, n = 24;
        const double scaling = 3;
        var layer = WaveFt(inF, outF, new WaveFtConfig { NFrequency = n, Scaling = scaling });
        var positions = TorchRandperm.First(inF * outF, n, 777);
        for (int k = 0; k < n; k += 5)
        {
            var c = new double[n];
            c[k] = 2;
            Set(layer.Spectrum("a"), c);
            int row = (int)(positions[k] / inF), col = (int)(positions[k] % inF);
            int qr = row / (outF / 2), qc = col / (inF / 2), i = row % (outF / 2), j = col % (inF / 2);
            var expected = new double[outF * inF];
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++)
                    expected[(2 * i + a) * inF + 2 * j + b] = scaling * 2 / 2 * (a * qc % 2 == 1 ? -1 : 1) * (b * qr % 2 == 1 ? -1 : 1);
            AssertClose(expected, layer.DeltaWeight("a").ToDoubleArray(), 1e-14);
        }
    }

    [Fact]
    public void Update_KeepsTheNorm_OfTheScaledCoefficients()
    {
        // The Haar reconstruction is orthonormal (Parseval): ||ΔW||_F = s ||c||.
        var layer = WaveFt(8, 6, new WaveFtConfig { NFrequency = 20, Scaling = 2.5, InitWeights = false });
        var c = layer.Spectrum("a").ToDoubleArray();
        double norm = Math.Sqrt(layer.DeltaWeight("a").ToDoubleArray().Sum(v => v * v));
        Assert.Equal(2.5 * Math.Sqrt(c.Sum(v => v * v)), norm, 12);
    }

    [Fact]
    public void OddSides_ArePaddedToEvenAndCropped()
    {
        // out 5: the grid has 6 rows; ΔW keeps the first 5 rows of the reconstruction.
        var layer = WaveFt(4, 5, new WaveFtConfig { NFrequency = 20, Scaling = 1, InitWeights = false });
        Assert.Equal([5, 4], layer.DeltaWeight("a").Shape);
        var x = Randn64(1, 2, 4);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void WithoutIdwt_TheUpdateIsTheScaledSparseGrid()
    {
        const int inF = 5, outF = 3, n = 6;
        var layer = WaveFt(inF, outF, new WaveFtConfig { NFrequency = n, Scaling = 4, UseIdwt = false, InitWeights = false });
        var c = layer.Spectrum("a").ToDoubleArray();
        var expected = new double[outF * inF];
        var p = TorchRandperm.First(inF * outF, n, 777);
        for (int k = 0; k < n; k++) expected[p[k]] = 4 * c[k];
        AssertClose(expected, layer.DeltaWeight("a").ToDoubleArray(), 1e-15);
    }

    [Fact]
    public void OtherWaveletsAndProportionalParameters_AreRefusedByName()
    {
        var e = Assert.Throws<NotSupportedException>(() => new WaveFtConfig { WaveletFamily = "db4" }.Validate());
        Assert.Contains("db4", e.Message);
        Assert.Contains("sym3", Assert.Throws<NotSupportedException>(() => new WaveFtConfig { WaveletFamily = "sym3" }.Validate()).Message);
        Assert.Contains("haar", Assert.Throws<ArgumentException>(() => new WaveFtConfig { WaveletFamily = "haar" }.Validate()).Message);
        Assert.Contains("proportional_parameters", Assert.Throws<NotSupportedException>(() => new WaveFtConfig { ProportionalParameters = true }.Validate()).Message);
    }
}
