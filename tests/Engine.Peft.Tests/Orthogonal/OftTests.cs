using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Engine.Peft.Orthogonal;
using Xunit;
using static Engine.Peft.Tests.Subspace.SubspaceTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Orthogonal;

/// <summary>
/// OFT: the exact Cayley rotation stays orthogonal through training and keeps the weight's Gram matrix (W'W'ᵀ = WWᵀ,
/// the paper's point: hyperspherical energy is preserved); PEFT's vector layout, Neumann loop, block-size adjustment
/// and COFT projection against naive references; old (pre-0.14) files refused.
/// </summary>
public class OftTests
{
    const int InF = 12, OutF = 5;

    static OftLayer Oft(OftConfig config) => StandaloneLayer(l => new OftLayer(l), InF, OutF, config);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ExactCayley_StaysOrthogonalThroughAdamWSteps_AndKeepsTheGramMatrix(bool blockShare)
    {
        var layer = Oft(new OftConfig { OftBlockSize = 4, UseCayleyNeumann = false, BlockShare = blockShare, InitWeights = false });
        var x = Randn64(1, 16, InF);
        var target = Randn64(2, 16, OutF);
        var optimizer = new AdamW([layer.Vectors("a")], lr: 0.05);
        for (int step = 0; step < 20; step++)
        {
            optimizer.ZeroGrad();
            (layer.Forward(x) - target).Square().Mean().Backward();
            optimizer.Step();
        }
        Assert.True(layer.Vectors("a").ToDoubleArray().Max(Math.Abs) > 0.2, "Q did not move");
        var r = layer.Rotations("a").ToDoubleArray();
        int blocks = blockShare ? 1 : InF / 4;
        for (int k = 0; k < blocks; k++)
        {
            var rk = r.Skip(k * 16).Take(16).ToArray();
            AssertClose(Identity(4), Mul(rk, Transpose(rk, 4, 4), 4, 4, 4), 1e-10, $"R_{k} R_{k}ᵀ");
        }
        // W' = W R_bdᵀ: W'W'ᵀ = W R_bdᵀ R_bd Wᵀ = WWᵀ.
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var rotated = layer.Transform("a", layer.BaseLayer.Weight, null).Weight.ToDoubleArray();
        Assert.True(rotated.Zip(w).Max(p => Math.Abs(p.First - p.Second)) > 1e-2, "W' = W");
        AssertClose(Mul(w, Transpose(w, OutF, InF), OutF, InF, OutF), Mul(rotated, Transpose(rotated, OutF, InF), OutF, InF, OutF), 1e-10, "W'W'ᵀ");
        // The forward is the base layer on x R_bd, R_bd the naive block-diagonal matrix.
        var bd = new double[InF * InF];
        for (int k = 0; k < InF / 4; k++)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) bd[(k * 4 + i) * InF + k * 4 + j] = r[(blockShare ? 0 : k) * 16 + i * 4 + j];
        AssertClose(bd, layer.BlockDiagonal("a").ToDoubleArray(), 1e-12, "R_bd");
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var expected = NaiveMatMulT(Mul(x.ToDoubleArray(), bd, 16, InF, InF), 16, w, InF, OutF).Select((v, i) => v + bias[i % OutF]).ToArray();
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-10, "forward");
    }

    [Theory]
    [InlineData(5, new[] { 1.0, 2, 2, 2, 1 })] // PEFT's default: I + 2Q + 2Q² + 2Q³ + Q⁴
    [InlineData(4, new[] { 1.0, 2, 2, 1 })]    // t = 3 and t = 4 both give I + 2Q + 2Q² + Q³
    [InlineData(3, new[] { 1.0, 2, 2, 1 })]
    [InlineData(2, new[] { 1.0, 2 })]
    [InlineData(1, new[] { 1.0 })]
    [InlineData(7, new[] { 1.0, 2, 2, 2, 2, 2, 1 })]
    public void NeumannSeries_IsPeftsLoop_OnTheTriuLayout(int terms, double[] coefficients)
    {
        const int b = 4;
        var layer = Oft(new OftConfig { OftBlockSize = b, NumCayleyNeumannTerms = terms, InitWeights = false });
        var v = layer.Vectors("a").ToDoubleArray();
        var r = layer.Rotations("a").ToDoubleArray();
        for (int k = 0; k < InF / b; k++)
        {
            // torch.triu_indices(4, 4, 1): (0,1) (0,2) (0,3) (1,2) (1,3) (2,3), row k of oft_R.weight.
            var q = new double[b * b];
            int e = k * 6;
            foreach (var (i, j) in new[] { (0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3) }) { q[i * b + j] = v[e]; q[j * b + i] = -v[e]; e++; }
            var expected = new double[b * b];
            var power = Identity(b);
            for (int t = 0; t < coefficients.Length; t++)
            {
                expected = Add(expected, power, coefficients[t]);
                power = Mul(power, q, b, b, b);
            }
            AssertClose(expected, r.Skip(k * 16).Take(16).ToArray(), 1e-12, $"block {k}");
        }
        // The Neumann form is not orthogonal, so unmerging divides by R exactly.
        var w = layer.BaseLayer.Weight.Detach().Clone();
        layer.Merge();
        layer.Unmerge();
        AssertClose(w.ToDoubleArray(), layer.BaseLayer.Weight.ToDoubleArray(), 1e-12, "merge, unmerge");
    }

    [Fact]
    public void SkewFromUpper_IsPeftsTriuLayout_AndUpperOfReadsItBack()
    {
        var upper = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6 }, [2, 6]);
        var q = SkewCayley.SkewFromUpper(upper, 4);
        // Row-major strict upper triangle: (0,1)=1 (0,2)=2 (0,3)=3 (1,2)=4 (1,3)=5 (2,3)=6, minus the transpose below.
        Assert.Equal(new double[] { 0, 1, 2, 3, -1, 0, 4, 5, -2, -4, 0, 6, -3, -5, -6, 0 }, q.ToDoubleArray().Take(16));
        Assert.Equal(upper.ToDoubleArray(), SkewCayley.UpperOf(q).ToDoubleArray());
        Assert.Throws<ArgumentException>(() => SkewCayley.SkewFromUpper(upper, 3));
    }

    [Theory]
    [InlineData(32, 8, 8)]
    [InlineData(32, 6, 4)]   // 4 and 8 are both 2 away: the lower wins
    [InlineData(32, 3, 2)]
    [InlineData(48, 5, 4)]
    [InlineData(30, 7, 6)]
    [InlineData(30, 9, 10)]
    [InlineData(16, 20, 16)] // above the width: the width
    public void NearestDivisor_IsPeftsAdjustment(int width, int value, int expected) =>
        Assert.Equal(expected, OftConfig.NearestDivisor(width, value));

    [Fact]
    public void BlockSize_ComesFromROrOftBlockSize_AdjustedToTheWidth()
    {
        Assert.Equal(4, new OftConfig { OftBlockSize = 6 }.BlockSizeFor(32));
        Assert.Equal(16, new OftConfig { R = 3, OftBlockSize = 0 }.BlockSizeFor(32));
        Assert.Equal(8, new OftConfig { R = 4, OftBlockSize = 0 }.BlockSizeFor(32));
        var layer = Oft(new OftConfig { R = 5, OftBlockSize = 0 }); // 12 / 5: r becomes 4 (6 is further), b = 3
        Assert.Equal(3, layer.BlockSize("a"));
        Assert.Equal([4, 3], layer.Vectors("a").Shape);
        Assert.Throws<ArgumentException>(() => new OftConfig { R = 2 }.Validate());
        Assert.Throws<ArgumentException>(() => new OftConfig { OftBlockSize = 0 }.Validate());
    }

    [Fact]
    public void Coft_ProjectsEachBlockIntoTheBallBeforeEveryForward()
    {
        const int b = 4;
        var layer = Oft(new OftConfig { OftBlockSize = b, Coft = true, Eps = 0.6 });
        double radius = 0.6 / Math.Sqrt(InF / b);
        // Row 0 inside the ball, rows 1 and 2 outside.
        var rows = new[] { 0.2, 1.5, 4.0 };
        var values = new double[3 * 6];
        for (int k = 0; k < 3; k++)
            for (int e = 0; e < 6; e++) values[k * 6 + e] = rows[k] * radius / Math.Sqrt(12) * (e % 2 == 0 ? 1 : -1);
        Set(layer.Vectors("a"), values);
        layer.Forward(Randn64(4, 2, InF));
        var after = layer.Vectors("a").ToDoubleArray();
        for (int k = 0; k < 3; k++)
        {
            var row = after.Skip(k * 6).Take(6).ToArray();
            double skewNorm = Math.Sqrt(2 * row.Sum(v => v * v));
            if (k == 0) AssertClose(values.Take(6).ToArray(), row, 0, "inside: unchanged");
            else
            {
                AssertClose(radius, skewNorm, 1e-12, $"row {k} on the sphere");
                AssertClose(values.Skip(k * 6).Take(6).Select(v => v / rows[k]).ToArray(), row, 1e-12, $"row {k} direction");
            }
        }
    }

    [Fact]
    public void PrePeft014File_IsRefusedNamingTheOldFormat()
    {
        var folder = TempFolder();
        try
        {
            // PEFT 0.13's OFT config has r and no oft_block_size; its weight is oft_r [r, b, b].
            var config = new JsonObject { ["peft_type"] = "OFT", ["r"] = 8, ["target_modules"] = new JsonArray("lm_head"), ["module_dropout"] = 0.0 };
            File.WriteAllText(Path.Combine(folder, AdapterFiles.ConfigFileName), config.ToJsonString());
            Safetensors.Save(Path.Combine(folder, AdapterFiles.WeightsFileName),
                new Dictionary<string, Tensor> { ["base_model.model.lm_head.oft_r"] = Tensor.Zeros([8, 4, 4]) }, new Dictionary<string, string> { ["format"] = "pt" });
            var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder));
            Assert.Contains("0.14", e.Message);

            // Even with a current config, an oft_r key is named.
            config["r"] = 0;
            config["oft_block_size"] = 4;
            File.WriteAllText(Path.Combine(folder, AdapterFiles.ConfigFileName), config.ToJsonString());
            e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder));
            Assert.Contains("oft_r", e.Message);
            Assert.Contains("0.14", e.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
