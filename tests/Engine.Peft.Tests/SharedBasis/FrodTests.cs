using Engine.Peft.SharedBasis;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.SharedBasis;

/// <summary>
/// FRoD: each weight factors as U diag(λ) Vᵀ over a basis shared by its category, U's columns have unit norm, S sits
/// on distinct off-diagonal positions, and the adapted weight is U (S + diag λ) Vᵀ (computed here by loops).
/// </summary>
public class FrodTests
{
    static PeftModel<Gpt> Adapted(bool scramble)
    {
        var peft = Peft.Apply(TinyGpt(layers: 3), new FrodConfig { SparseRate = 0.2, TargetModules = ["qkv", "mlp.fc", "mlp.proj"], ProjectionPrngKey = 4 });
        peft.To(DType.Float64);
        ulong seed = 80;
        if (scramble) foreach (var p in peft.TrainableParameters()) Scramble(p, seed++, 0.3);
        return peft;
    }

    static FrodLayer Layer(PeftModel peft, string path) => (FrodLayer)peft.AdapterLayers().First(l => l.Path == path).Layer;

    [Fact]
    public void Categories_ShareOneBasis_AndTheWeightFactorsOverIt_WithUnitColumnsOfU()
    {
        var peft = Adapted(scramble: false);
        var part = (FrodProjections)peft.ModelPart("default")!;
        // qkv (attn_c_attn: 3 stacked [24, 8], QR path), mlp.fc (mlp_c_fc: [16, 8] each, QR), mlp.proj (mlp_c_proj: 3 x [8, 16] = [24, 16], QR too).
        foreach (var (path, category) in new[] { ("blocks.0.attn.qkv", "attn_c_attn"), ("blocks.2.mlp.fc", "mlp_c_fc"), ("blocks.1.mlp.proj", "mlp_c_proj") })
        {
            var layer = Layer(peft, path);
            Assert.Same(part.V(category).Storage, layer.V("default").Storage);
            int inF = layer.InFeatures, outF = layer.OutFeatures;
            var u = layer.U("default").ToDoubleArray();
            var v = layer.V("default").Contiguous().ToDoubleArray();
            var lambda = layer.LambdaL("default").ToDoubleArray();
            var w = layer.BaseLayer.Weight.ToDoubleArray();
            for (int j = 0; j < inF; j++)
                Assert.Equal(1.0, Math.Sqrt(Enumerable.Range(0, outF).Sum(o => u[o * inF + j] * u[o * inF + j])), 9);
            for (int o = 0; o < outF; o++)
                for (int i = 0; i < inF; i++)
                    Assert.Equal(w[o * inF + i], Enumerable.Range(0, inF).Sum(j => u[o * inF + j] * lambda[j] * v[i * inF + j]), 5);
            Assert.True(layer.DeltaWeight("default").Abs().Max().Item() < 1e-5);
        }
    }

    [Fact]
    public void SparsePositions_AreDistinctAndOffTheDiagonal()
    {
        var part = (FrodProjections)Adapted(scramble: false).ModelPart("default")!;
        var idx = part.Indices("mlp_c_proj").ToDoubleArray();  // in 16: floor(256 * 0.2) = 51
        int nnz = idx.Length / 2;
        Assert.Equal(51, nnz);
        var pairs = Enumerable.Range(0, nnz).Select(k => ((int)idx[k], (int)idx[nnz + k])).ToList();
        Assert.All(pairs, p => Assert.NotEqual(p.Item1, p.Item2));
        Assert.Equal(nnz, pairs.Distinct().Count());
        Assert.Equal([16.0, 16.0], part.Size("mlp_c_proj").ToDoubleArray());
    }

    [Fact]
    public void AdaptedWeight_IsUTimesSPlusDiagLambdaTimesVTransposed_ByLoops()
    {
        var peft = Adapted(scramble: true);
        var layer = Layer(peft, "blocks.1.mlp.fc");
        var part = (FrodProjections)peft.ModelPart("default")!;
        int inF = layer.InFeatures, outF = layer.OutFeatures;
        var u = layer.U("default").ToDoubleArray();
        var v = layer.V("default").Contiguous().ToDoubleArray();
        var lambda = layer.LambdaL("default").ToDoubleArray();
        var values = layer.SValues("default").ToDoubleArray();
        var idx = part.Indices("mlp_c_fc").ToDoubleArray();
        var m = new double[inF * inF];
        for (int j = 0; j < inF; j++) m[j * inF + j] = lambda[j];
        for (int k = 0; k < values.Length; k++) m[(int)idx[k] * inF + (int)idx[values.Length + k]] += values[k];
        var w0 = layer.BaseLayer.Weight.ToDoubleArray();
        var expected = new double[outF * inF];
        for (int o = 0; o < outF; o++)
            for (int i = 0; i < inF; i++)
            {
                double sum = 0;
                for (int a = 0; a < inF; a++)
                    for (int b = 0; b < inF; b++) sum += u[o * inF + a] * m[a * inF + b] * v[i * inF + b];
                expected[o * inF + i] = sum - w0[o * inF + i];
            }
        AssertClose(expected, layer.DeltaWeight("default").ToDoubleArray(), 1e-10);
    }

    [Fact]
    public void SaveProjectionFalse_IsRefusedNamingThePositions()
    {
        var e = Assert.Throws<NotSupportedException>(() => Peft.Apply(TinyGpt(), new FrodConfig { SaveProjection = false, TargetModules = ["qkv"] }));
        Assert.Contains("frod_s_indices", e.Message);
    }
}
