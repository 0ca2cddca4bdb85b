using System.Text.Json.Nodes;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// The properties the LoRA variants' papers state: KaSA keeps the best rank-(k - r) approximation of the base and
/// scales the update by a trained diagonal, MiCA's frozen B spans the base's minor output directions, the orthogonal
/// initialisation starts at the base with both factors non-zero, BD-LoRA's update is block-diagonal in one factor; and
/// PEFT's variants the engine lacks are refused by field name.
/// </summary>
public class LoraVariantTests
{
    static LoraLayer Layer(LoraConfig config, int inF, int outF, string path = "layer")
    {
        var linear = new Linear(inF, outF, bias: true, new Generator(3));
        linear.To(DType.Float64);
        var layer = new LoraLayer(linear);
        layer.AddAdapter(AdapterContext.Standalone("a", config, path));
        layer.SetActive(["a"]);
        return layer;
    }

    // The singular values of W [m, n], descending, from the eigenvalues of W Wᵀ (another algorithm than the SVD).
    static double[] SingularValues(Tensor w)
    {
        var (values, _) = Linalg.EighSymmetric(w % w.T);
        return values.ToDoubleArray().Select(v => Math.Sqrt(Math.Max(v, 0))).OrderDescending().ToArray();
    }

    [Fact]
    public void Kasa_TruncatesTheBaseToItsTopSingularValues_AndDeletingPutsTheOriginalBack()
    {
        const int inF = 9, outF = 7, r = 3;
        var reference = new Linear(inF, outF, bias: true, new Generator(3));
        reference.To(DType.Float64);
        var original = reference.Weight.ToDoubleArray();
        var layer = Layer(new LoraConfig { R = r, KasaConfig = new() }, inF, outF);
        var before = SingularValues(Tensor.FromArray(original).Reshape(outF, inF));
        var after = SingularValues(layer.BaseLayer.Weight);
        // Eckart-Young: the truncation keeps the k - r largest singular values and drops the r smallest.
        for (int i = 0; i < outF - r; i++) Assert.Equal(before[i], after[i], 9);
        for (int i = outF - r; i < outF; i++) Assert.True(after[i] < 1e-6, $"singular value {i} is {after[i]}, not dropped");
        // B starts at zero: the adapter adds nothing to the truncated base.
        Assert.All(layer.LoraB("a").ToDoubleArray(), v => Assert.Equal(0.0, v));
        layer.DeleteAdapter("a");
        Assert.Equal(original, layer.BaseLayer.Weight.ToDoubleArray());
    }

    [Fact]
    public void Kasa_UpdateIsScaledBDiagA_AndRegularizationMatchesTheFormula()
    {
        const int inF = 6, outF = 5, r = 2;
        var layer = Layer(new LoraConfig { R = r, LoraAlpha = 3, KasaConfig = new() { Beta = 0.5, Gamma = 0.25 }, InitLoraWeights = LoraInit.Random }, inF, outF);
        var a = layer.LoraA("a").ToDoubleArray();
        var b = layer.LoraB("a").ToDoubleArray();
        var d = KasaVariant.Diag(layer, "a").ToDoubleArray();
        var bd = b.Select((v, i) => v * d[i % r]).ToArray();
        var delta = NaiveProduct(bd, a, outF, r, inF).Select(v => v * 1.5).ToArray();
        AssertClose(delta, layer.DeltaWeight("a").ToDoubleArray(), 1e-12);
        var x = Randn64(8, 4, inF);
        var w = layer.BaseLayer.Weight.ToDoubleArray().Select((v, i) => v + delta[i]).ToArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        AssertClose(NaiveMatMulT(x.ToDoubleArray(), 4, w, inF, outF).Select((v, i) => v + bias[i % outF]).ToArray(), layer.Forward(x).ToDoubleArray(), 1e-12);

        // beta sum d² + gamma (||BᵀB - I||_F + ||A Aᵀ - I||_F), by loops.
        double Gram(double[] m, int rows, int cols, bool columns)
        {
            double s = 0;
            for (int p = 0; p < r; p++)
                for (int q = 0; q < r; q++)
                {
                    double g = 0;
                    for (int k = 0; k < (columns ? rows : cols); k++)
                        g += columns ? m[k * cols + p] * m[k * cols + q] : m[p * cols + k] * m[q * cols + k];
                    s += Math.Pow(g - (p == q ? 1 : 0), 2);
                }
            return Math.Sqrt(s);
        }
        double expected = 0.5 * d.Sum(v => v * v) + 0.25 * (Gram(b, outF, r, columns: true) + Gram(a, r, inF, columns: false));
        Assert.Equal(expected, KasaVariant.RegularizationLoss(layer, "a", new KasaConfig { Beta = 0.5, Gamma = 0.25 }).Item(), 10);
    }

    [Fact]
    public void Kasa_RankMustLeaveASingularComponent()
    {
        var e = Assert.Throws<ArgumentException>(() => Layer(new LoraConfig { R = 5, KasaConfig = new() }, 8, 5));
        Assert.Contains("KaSA", e.Message);
    }

    [Fact]
    public void Mica_FrozenBSpansTheMinorSingularDirections_AndOnlyATrains()
    {
        const int inF = 10, outF = 8, r = 3;
        var layer = Layer(new LoraConfig { R = r, InitLoraWeights = LoraInit.Mica }, inF, outF);
        var b = layer.LoraB("a");
        Assert.All(layer.LoraA("a").ToDoubleArray(), v => Assert.Equal(0.0, v));
        // Orthonormal columns, and ||Bᵀ W||_F² is the sum of the r smallest squared singular values of W.
        AssertClose(Tensor.Eye(r, dtype: DType.Float64).ToDoubleArray(), (b.T % b).ToDoubleArray(), 1e-10);
        var projected = b.T % layer.BaseLayer.Weight;
        var sv = SingularValues(layer.BaseLayer.Weight);
        Assert.Equal(sv.TakeLast(r).Sum(v => v * v), (projected * projected).Sum().Item(), 9);
        Assert.DoesNotContain(layer.AdapterTensors("a"), t => t.Key == "lora_B.weight" && t.Trainable);
        Assert.False(b.RequiresGrad);
        Assert.Contains(layer.AdapterTensors("a"), t => t.Key == "lora_A.weight" && t.Trainable);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Orthogonal_BothFactorsNonZero_YetTheProductIsZero(int r)
    {
        var layer = Layer(new LoraConfig { R = r, InitLoraWeights = LoraInit.Orthogonal, Seed = 9 }, 12, 10);
        var a = layer.LoraA("a").ToDoubleArray();
        var b = layer.LoraB("a").ToDoubleArray();
        Assert.True(a.Max(Math.Abs) > 1e-2 && b.Max(Math.Abs) > 1e-2);
        Assert.True(NaiveProduct(b, a, 10, r, 12).Max(Math.Abs) < 1e-12, "B A is not zero");
        // A's rows lie in span(Q_odd) and B's columns in span(Q_even): A Aᵀ and BᵀB have rank r / 2 only.
        Assert.Equal(r / 2, Lycoris.LycorisTestSupport.Rank(NaiveProduct(a, Transpose(a, r, 12), r, 12, r), r, r, 1e-9));
    }

    static double[] Transpose(double[] m, int rows, int cols)
    {
        var t = new double[m.Length];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j];
        return t;
    }

    [Fact]
    public void Orthogonal_RefusesAnOddRank()
    {
        var e = Assert.Throws<ArgumentException>(() => Layer(new LoraConfig { R = 3, InitLoraWeights = LoraInit.Orthogonal }, 6, 6));
        Assert.Contains("even", e.Message);
    }

    [Theory]
    [InlineData("blocks.0.attn.qkv", 'A')]
    [InlineData("blocks.0.mlp.proj", 'B')]
    public void BdLora_UpdateIsZeroOutsideTheDiagonalBlocksOfItsFactor(string path, char side)
    {
        const int inF = 12, outF = 8, r = 4, n = 2;
        var bd = new BdLoraConfig { TargetModulesBdA = ["qkv"], TargetModulesBdB = ["mlp.proj"], Nblocks = n };
        var layer = Layer(new LoraConfig { R = r, UseBdlora = bd, InitLoraWeights = LoraInit.Random }, inF, outF, path);
        Scramble(layer.LoraB("a"), 5);
        var a = layer.LoraA("a").ToDoubleArray();
        var b = layer.LoraB("a").ToDoubleArray();
        // Dense factors by hand: block i of the stored rows sits at rows i·(rows/n), columns i·cols.
        double[] Dense(double[] blocks, int rows, int cols)
        {
            var dense = new double[rows * cols * n];
            int rb = rows / n;
            for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) dense[i * cols * n + (i / rb) * cols + j] = blocks[i * cols + j];
            return dense;
        }
        var (da, db) = side == 'A' ? (Dense(a, r, inF / n), b) : (a, Dense(b, outF, r / n));
        Assert.Equal(side == 'A' ? new[] { r, inF / n } : new[] { outF, r / n }, side == 'A' ? layer.LoraA("a").Shape : layer.LoraB("a").Shape);
        var delta = NaiveProduct(db, da, outF, r, inF).Select(v => v * 2).ToArray();
        AssertClose(delta, layer.DeltaWeight("a").ToDoubleArray(), 1e-12);
        if (side == 'A')
            // A block-diagonal A: the first r/n rank directions see only the first half of the input.
            for (int o = 0; o < outF; o++) Assert.NotEqual(0.0, delta[o * inF]);
        var x = Randn64(4, 3, inF);
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var w = layer.BaseLayer.Weight.ToDoubleArray().Select((v, i) => v + delta[i]).ToArray();
        AssertClose(NaiveMatMulT(x.ToDoubleArray(), 3, w, inF, outF).Select((v, i) => v + bias[i % outF]).ToArray(), layer.Forward(x).ToDoubleArray(), 1e-12);
        // The block structure: A [r, in] dense has zeros off its blocks.
        if (side == 'A') Assert.Equal(0.0, da[0 * inF + inF / n]);
    }

    [Fact]
    public void BdLora_StrictMatchingRefusesAnUnmatchedTarget()
    {
        var bd = new BdLoraConfig { TargetModulesBdA = ["qkv"], Nblocks = 2 };
        var e = Assert.Throws<ArgumentException>(() => Layer(new LoraConfig { R = 2, UseBdlora = bd }, 8, 8, "blocks.0.mlp.fc"));
        Assert.Contains("match_strict", e.Message);
        Layer(new LoraConfig { R = 2, UseBdlora = bd with { MatchStrict = false } }, 8, 8, "blocks.0.mlp.fc");
    }

    [Theory]
    [InlineData("use_dora", "true")]
    public void PeftVariantsTheEngineLacks_AreRefusedNamingTheField(string field, string value)
    {
        var json = PeftConfigJson.ToJson(new LoraConfig { KasaConfig = field == "use_dora" ? new() : null });
        json[field] = JsonNode.Parse(value);
        var e = Assert.Throws<NotSupportedException>(() => PeftConfigJson.FromJson(json));
        Assert.Contains(field, e.Message);
        // The defaults PEFT writes (null, false, an empty list) ask for nothing.
        var plain = PeftConfigJson.ToJson(new LoraConfig());
        plain["alora_invocation_tokens"] = new JsonArray();
        Assert.IsType<LoraConfig>(PeftConfigJson.FromJson(plain));
    }
}
