using Engine.Nn.Checkpoints;
using Engine.Peft.Elementwise;
using Xunit;
using static Engine.Peft.Tests.Elementwise.ElementwiseTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Elementwise;

/// <summary>Super-Tuning: only the k entries of largest |W0| change (the sparsity pattern), plus Supra's optional LoRA.</summary>
public class SupertuningTests
{
    static SupertuningLayer Layer(SupertuningConfig config, int inF = 8, int outF = 6) => Layer<SupertuningLayer>(l => new SupertuningLayer(l), inF, outF, config);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Indices_AreTheKLargestMagnitudes_AndOnlyThoseEntriesChange(bool top)
    {
        var layer = Layer(new SupertuningConfig { Sparsity = 0.75, SelectTop = top, InitWeights = false });
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        int k = (int)(48 * 0.25);
        // Independently: an entry is selected iff fewer than k entries are strictly beyond it in |w|.
        var expected = Enumerable.Range(0, 48).Where(i => w.Count(v => top ? Math.Abs(v) > Math.Abs(w[i]) : Math.Abs(v) < Math.Abs(w[i])) < k).ToHashSet();
        var indices = layer.Indices("a").ToArray<int>();
        Assert.Equal(DType.Int32, layer.Indices("a").DType);
        Assert.Equal(k, indices.Length);
        Assert.Equal(expected, indices.ToHashSet());
        // torch.topk's order: by magnitude.
        var magnitudes = indices.Select(i => Math.Abs(w[i])).ToArray();
        Assert.Equal(top ? magnitudes.OrderDescending() : magnitudes.Order(), magnitudes);

        var delta = layer.DeltaWeight("a").ToDoubleArray();
        var values = layer.Values("a").ToDoubleArray();
        for (int i = 0; i < 48; i++)
            Assert.Equal(expected.Contains(i) ? values[Array.IndexOf(indices, i)] : 0, delta[i]);
        var x = Randn64(2, 3, 8);
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        AssertClose(NaiveMatMulT(x.ToDoubleArray(), 3, w.Select((v, i) => v + delta[i]).ToArray(), 8, 6).Select((v, i) => v + bias[i % 6]).ToArray(), Out(layer, x), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void Supra_AddsALoraScaledByAlphaOverR_AlphaDefaultingToTwiceR()
    {
        var layer = Layer(new SupertuningConfig { Sparsity = 0.9, R = 3, InitWeights = false });
        var a = layer.AdapterTensors("a").Single(t => t.Key == "supertuning_lora_A.weight").Tensor.ToDoubleArray();
        var b = layer.AdapterTensors("a").Single(t => t.Key == "supertuning_lora_B.weight").Tensor.ToDoubleArray();
        var lora = NaiveProduct(b, a, 6, 3, 8);
        var sparse = layer.SparsePart("a").ToDoubleArray();
        AssertClose(sparse.Select((v, i) => v + 2.0 * lora[i]).ToArray(), layer.DeltaWeight("a").ToDoubleArray(), 1e-12);
        Assert.Equal(1.5, new SupertuningConfig { R = 4, LoraAlpha = 6 }.LoraScaling);
        var x = Randn64(5, 2, 8);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void AFileWithoutIndices_LoadsWithIndicesPickedFromTheBase_AndEngineFilesKeepThem()
    {
        // PEFT's save_precomputed_indices = false leaves the indices out of the file.
        var config = new SupertuningConfig { Sparsity = 0.9, SavePrecomputedIndices = false, InitWeights = false, TargetModules = ["qkv"], Seed = 4 };
        var trained = Peft.Apply(TinyGpt(), config);
        var folder = TempFolder();
        try
        {
            trained.SavePretrained(folder);
            var file = Path.Combine(folder, AdapterFiles.WeightsFileName);
            var tensors = Safetensors.Load(file);
            Assert.Contains(tensors.Keys, k => k.EndsWith(".supertuning_indices", StringComparison.Ordinal));
            foreach (var key in tensors.Keys.Where(k => k.EndsWith(".supertuning_indices", StringComparison.Ordinal)).ToList()) tensors.Remove(key);
            Safetensors.Save(file, tensors, new Dictionary<string, string> { ["format"] = "pt" });

            var loaded = Peft.FromPretrained(TinyGpt(), folder);
            Assert.Equal(Out(trained, Ids()), Out(loaded, Ids()));

            // With save_precomputed_indices = true a missing index tensor is an error naming it.
            File.WriteAllText(Path.Combine(folder, AdapterFiles.ConfigFileName), File.ReadAllText(Path.Combine(folder, AdapterFiles.ConfigFileName)).Replace("\"save_precomputed_indices\": false", "\"save_precomputed_indices\": true"));
            var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(TinyGpt(), folder));
            Assert.Contains("supertuning_indices", e.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void AnIndexOutsideTheWeight_IsRefusedAtLoad()
    {
        var trained = Peft.Apply(TinyGpt(), new SupertuningConfig { Sparsity = 0.9, TargetModules = ["qkv"] });
        var folder = TempFolder();
        try
        {
            trained.SavePretrained(folder);
            var file = Path.Combine(folder, AdapterFiles.WeightsFileName);
            var tensors = Safetensors.Load(file);
            var key = tensors.Keys.First(k => k.EndsWith(".supertuning_indices", StringComparison.Ordinal));
            var bad = tensors[key].ToArray<int>();
            bad[1] = 1 << 20;
            tensors[key] = Tensor.FromArray(bad);
            Safetensors.Save(file, tensors, new Dictionary<string, string> { ["format"] = "pt" });
            var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(TinyGpt(), folder));
            Assert.Contains(key, e.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
