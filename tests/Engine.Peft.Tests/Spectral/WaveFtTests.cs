using Engine.Peft.Spectral;
using Xunit;
using static Engine.Peft.Tests.Spectral.SpectralTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Spectral;

/// <summary>
/// WaveFT: with db1 each coefficient spreads over one 2 × 2 block with the Haar sign pattern and the transform is
/// orthonormal; every family's reconstruction equals the transposed-convolution definition computed naively here.
/// </summary>
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

    // y[i, j] = Σ_{n, m} c[n, m] f_r[i + p − 2n] f_c[j + p − 2m] over the four quadrants, straight from the definition
    // (PyTorch's stride-2 transposed convolution cropped by p = ⌊(2L − 3) / 2⌋), with PyWavelets' rec_hi rule.
    static double[,] NaiveInverse(double[,] grid, double[] lo)
    {
        int L = lo.Length, p = (2 * L - 3) / 2;
        var hi = new double[L];
        for (int i = 0; i < L; i++) hi[i] = (i % 2 == 0 ? 1 : -1) * lo[L - 1 - i];
        int h = grid.GetLength(0) / 2, w = grid.GetLength(1) / 2, rows = 2 * h - L + 2, cols = 2 * w - L + 2;
        var y = new double[rows, cols];
        double Tap(double[] f, int k) => k >= 0 && k < L ? f[k] : 0;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                for (int n = 0; n < h; n++)
                    for (int m = 0; m < w; m++)
                        y[i, j] += grid[n, m] * Tap(lo, i + p - 2 * n) * Tap(lo, j + p - 2 * m)      // cA
                            + grid[n, w + m] * Tap(hi, i + p - 2 * n) * Tap(lo, j + p - 2 * m)       // cH: high-pass along rows
                            + grid[h + n, m] * Tap(lo, i + p - 2 * n) * Tap(hi, j + p - 2 * m)       // cV: along columns
                            + grid[h + n, w + m] * Tap(hi, i + p - 2 * n) * Tap(hi, j + p - 2 * m);  // cD
        return y;
    }

    [Theory]
    [InlineData("db1", 4, 6)]
    [InlineData("db2", 8, 6)]
    [InlineData("db5", 14, 20)]
    [InlineData("sym4", 10, 12)]
    [InlineData("coif3", 20, 18)]
    public void Inverse2d_EqualsTheTransposedConvolutionDefinition(string family, int rows, int cols)
    {
        var grid = Randn64(3, rows, cols);
        var values = grid.ToDoubleArray();
        var g = new double[rows, cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) g[i, j] = values[i * cols + j];
        var expected = NaiveInverse(g, WaveletFilters.ReconstructionLowPass[family]);
        var actual = WaveletTransform.Inverse2d(grid, family);
        Assert.Equal([expected.GetLength(0), expected.GetLength(1)], actual.Shape);
        AssertClose(expected.Cast<double>().ToArray(), actual.ToDoubleArray(), 1e-12);
        AssertInputGradients(t => WaveletTransform.Inverse2d(t[0], family), Randn64(4, rows, cols));
    }

    [Fact]
    public void EveryFilter_IsOrthonormal()
    {
        // Orthogonal wavelets: Σ h[k]² = 1, Σ h[k] = √2, and h is orthogonal to its even shifts (Daubechies 1988);
        // PyWavelets' tables hold some taps to about 1e-12.
        foreach (var (family, h) in WaveletFilters.ReconstructionLowPass)
        {
            Assert.True(Math.Abs(h.Sum(v => v * v) - 1) < 1e-10, $"{family} energy");
            Assert.True(Math.Abs(h.Sum() - Math.Sqrt(2)) < 1e-10, $"{family} sum");
            for (int shift = 2; shift < h.Length; shift += 2)
                Assert.True(Math.Abs(Enumerable.Range(0, h.Length - shift).Sum(k => h[k] * h[k + shift])) < 1e-10, $"{family} shift {shift}");
        }
    }

    [Fact]
    public void AWaveletWithALongFilter_PadsTheGridAndCentresTheCoefficients()
    {
        // sym4 (L = 8) on a 6 × 5 layer: the grid is [6 + 6, 5 + 6 + 1] = [12, 12], coefficients shifted by (3, 3);
        // the reconstruction is [12 − 6, 12 − 6] = [6, 6], cropped to [6, 5] from column 0.
        const int inF = 5, outF = 6, n = 7;
        var layer = WaveFt(inF, outF, new WaveFtConfig { NFrequency = n, Scaling = 2, WaveletFamily = "sym4", InitWeights = false });
        var c = layer.Spectrum("a").ToDoubleArray();
        var positions = TorchRandperm.First(inF * outF, n, 777);
        var grid = new double[12, 12];
        for (int k = 0; k < n; k++) grid[positions[k] / inF + 3, positions[k] % inF + 3] = c[k];
        var full = NaiveInverse(grid, WaveletFilters.ReconstructionLowPass["sym4"]);
        var expected = new double[outF * inF];
        for (int i = 0; i < outF; i++) for (int j = 0; j < inF; j++) expected[i * inF + j] = 2 * full[i, j];
        AssertClose(expected, layer.DeltaWeight("a").ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void ProportionalParameters_ShareTheBudgetByLayerSize_RoundingHalfToEven()
    {
        // Targets qkv [out 48, in 16] and mlp.fc [32, 16] in 2 blocks: 4 targets, budget 4 · 10 = 40 shared in
        // proportion to 768 and 512: 768 / 2560 · 40 = 12, 512 / 2560 · 40 = 8.
        var peft = Peft.Apply(TinyGpt(), new WaveFtConfig { NFrequency = 10, ProportionalParameters = true, TargetModules = ["qkv", "mlp.fc"], NFrequencyPattern = new Dictionary<string, int> { ["qkv"] = 3 } });
        var sizes = peft.NamedAdapterTensors("default").ToDictionary(t => t.Key, t => t.Tensor.Size(0));
        Assert.Equal(12, sizes["base_model.model.transformer.h.0.attn.c_attn.waveft_spectrum"]);
        Assert.Equal(8, sizes["base_model.model.transformer.h.1.mlp.c_fc.waveft_spectrum"]);
        // Budget 4 · 1 = 4: qkv's share 1.2 rounds to 1, mlp.fc's 0.8 to 1; at least 1 each.
        var small = Peft.Apply(TinyGpt(), new WaveFtConfig { NFrequency = 1, ProportionalParameters = true, TargetModules = ["qkv", "mlp.fc"] });
        Assert.All(small.NamedAdapterTensors("default"), t => Assert.Equal(1, t.Tensor.Size(0)));
    }

    [Fact]
    public void Families_PeftCannotBuildOrBuildsWrongly_AreRefusedByName()
    {
        foreach (var family in new[] { "db1", "db4", "db10", "sym3", "sym10", "coif1", "coif3" }) new WaveFtConfig { WaveletFamily = family }.Validate();
        foreach (var family in new[] { "coif4", "coif5" })
            Assert.Contains("not the coiflet", Assert.Throws<NotSupportedException>(() => new WaveFtConfig { WaveletFamily = family }.Validate()).Message);
        foreach (var family in new[] { "db11", "sym20", "coif17" })
            Assert.Contains("stops at db10", Assert.Throws<NotSupportedException>(() => new WaveFtConfig { WaveletFamily = family }.Validate()).Message);
        Assert.Contains("haar", Assert.Throws<ArgumentException>(() => new WaveFtConfig { WaveletFamily = "haar" }.Validate()).Message);
    }
}
