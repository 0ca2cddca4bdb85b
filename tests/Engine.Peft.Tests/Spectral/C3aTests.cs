using Engine.Peft.Spectral;
using Xunit;
using static Engine.Peft.Tests.Spectral.SpectralTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Spectral;

/// <summary>C3A: ΔW is block-circulant (each b × b block a circulant matrix), and can have full rank.</summary>
public class C3aTests
{
    static C3aLayer C3a(int inF, int outF, C3aConfig config) => Layer(l => new C3aLayer(l), inF, outF, config);

    [Fact]
    public void EveryBlock_IsTheCirculantMatrixOfItsKernel_DividedByIn()
    {
        const int inF = 8, outF = 12, b = 4;
        var layer = C3a(inF, outF, new C3aConfig { BlockSize = b, InitWeights = C3aInit.Gaussian });
        var w = layer.Kernel("a").ToDoubleArray();
        var delta = layer.DeltaWeight("a").ToDoubleArray();
        for (int row = 0; row < outF; row++)
            for (int col = 0; col < inF; col++)
            {
                // Circulant: shifting row and column together keeps the entry (indices wrap inside the block).
                int m = row / b, j = row % b, n = col / b, s = col % b;
                int nextRow = m * b + (j + 1) % b, nextCol = n * b + (s + 1) % b;
                Assert.Equal(delta[row * inF + col], delta[nextRow * inF + nextCol], 14);
                // The first row of block (m, n) is the kernel w[m, n] / in.
                if (j == 0) Assert.Equal(w[(m * (inF / b) + n) * b + s] / inF, delta[row * inF + col], 14);
            }
    }

    [Fact]
    public void Forward_IsTheCircularConvolutionOfTheInputBlocks()
    {
        // y_m[j] = Σ_n Σ_s x_n[s] w[m, n, (s − j) mod b] / in, written out without ΔW.
        const int inF = 6, outF = 9, b = 3;
        var layer = C3a(inF, outF, new C3aConfig { BlockSize = b, InitWeights = C3aInit.Gaussian });
        var w = layer.Kernel("a").ToDoubleArray();
        var x = Randn64(4, 2, inF);
        var xs = x.ToDoubleArray();
        var baseOut = layer.BaseLayer.Forward(x).ToDoubleArray();
        var expected = new double[2 * outF];
        for (int t = 0; t < 2; t++)
            for (int m = 0; m < outF / b; m++)
                for (int j = 0; j < b; j++)
                {
                    double sum = 0;
                    for (int n = 0; n < inF / b; n++)
                        for (int s = 0; s < b; s++) sum += xs[t * inF + n * b + s] * w[(m * (inF / b) + n) * b + ((s - j) % b + b) % b];
                    expected[t * outF + m * b + j] = baseOut[t * outF + m * b + j] + sum / inF;
                }
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void Update_ReachesFullRank_WithOneBlockPerKernel()
    {
        // 16 × 16 with b = 8 trains 32 numbers yet ΔW has rank 16 (a LoRA of rank r trains 32 r for rank r).
        var layer = C3a(16, 16, new C3aConfig { BlockSize = 8, InitWeights = C3aInit.Gaussian });
        Assert.Equal(32, layer.Kernel("a").Numel);
        Assert.Equal(16, Rank(layer.DeltaWeight("a").ToDoubleArray(), 16, 16));
    }

    [Fact]
    public void Inits_FollowPeft()
    {
        Assert.All(C3a(8, 8, new C3aConfig { BlockSize = 4, InitWeights = C3aInit.Zeros }).Kernel("a").ToDoubleArray(), v => Assert.Equal(0, v));
        double xavier = Math.Sqrt(3) * Math.Sqrt(2.0 / 16);
        var k = C3a(8, 8, new C3aConfig { BlockSize = 4 }).Kernel("a").ToDoubleArray();
        Assert.All(k, v => Assert.InRange(Math.Abs(v), 0, xavier));
        Assert.True(k.Max(Math.Abs) > xavier / 2);
    }

    [Fact]
    public void BlockSize_MustDivideBothWidths()
    {
        var e = Assert.Throws<ArgumentException>(() => C3a(8, 6, new C3aConfig { BlockSize = 4 }));
        Assert.Contains("block_size", e.Message);
    }

    [Fact]
    public void InitWeights_ReadsPeftsForms()
    {
        foreach (var (json, expected) in new[] { ("true", C3aInit.Zeros), ("false", C3aInit.False), ("\"gaussian\"", C3aInit.Gaussian), ("\"xavier_uniform\"", C3aInit.XavierUniform), ("\"kaiming_uniform\"", C3aInit.KaimingUniform) })
        {
            var config = (C3aConfig)PeftConfig.FromJson(System.Text.Json.Nodes.JsonNode.Parse($"{{\"peft_type\": \"C3A\", \"init_weights\": {json}}}")!.AsObject());
            Assert.Equal(expected, config.InitWeights);
            Assert.Equal(json, config.ToJson()["init_weights"]!.ToJsonString());
        }
    }
}
