using Engine.Nn.Checkpoints;
using Engine.Peft.Spectral;
using Xunit;
using static Engine.Peft.Tests.Spectral.SpectralTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Spectral;

/// <summary>SHiRA: ΔW is zero outside the mask of k = r (in + out) entries, yet of high rank.</summary>
public class ShiraTests
{
    static ShiraLayer Shira(int inF, int outF, ShiraConfig config) => Layer(l => new ShiraLayer(l), inF, outF, config);

    [Fact]
    public void Update_IsZeroOutsideTheMask_AndTheMaskIsPeftsRandomMask()
    {
        const int inF = 10, outF = 7, r = 2, k = r * (inF + outF);
        var layer = Shira(inF, outF, new ShiraConfig { R = r, RandomSeed = 9, InitWeights = false });
        var idx = layer.Indices("a").ToArray<int>();
        var flat = Enumerable.Range(0, k).Select(i => (long)idx[i] * inF + idx[k + i]).ToArray();
        // torch.where(mask) order: the first k of randperm, ascending.
        Assert.Equal(TorchRandperm.First(inF * outF, k, 9).Order(), flat);
        var w = layer.Weight("a").ToDoubleArray();
        var delta = layer.DeltaWeight("a").ToDoubleArray();
        var expected = new double[outF * inF];
        for (int i = 0; i < k; i++) expected[flat[i]] = w[i];
        Assert.Equal(expected, delta);
        Assert.True(delta.Count(v => v != 0) <= k);
    }

    [Fact]
    public void Merge_ChangesExactlyTheMaskedEntries()
    {
        const int inF = 6, outF = 5;
        var layer = Shira(inF, outF, new ShiraConfig { R = 1, RandomSeed = 2, InitWeights = false });
        var before = layer.BaseLayer.Weight.ToDoubleArray();
        layer.Merge();
        var after = layer.BaseLayer.Weight.ToDoubleArray();
        var idx = layer.Indices("a").ToArray<int>();
        var masked = Enumerable.Range(0, inF + outF).Select(i => idx[i] * inF + idx[inF + outF + i]).ToHashSet();
        for (int i = 0; i < before.Length; i++)
            Assert.True(masked.Contains(i) ? after[i] != before[i] : after[i] == before[i], $"entry {i}");
        layer.Unmerge();
        AssertClose(before, layer.BaseLayer.Weight.ToDoubleArray(), 1e-15);
    }

    [Fact]
    public void Update_HasHighRank()
    {
        // r = 1 on 16 × 16 trains 32 entries (a rank-1 LoRA's count); the sparse ΔW has rank well above 1.
        var layer = Shira(16, 16, new ShiraConfig { R = 1, RandomSeed = 4, InitWeights = false });
        Assert.True(Rank(layer.DeltaWeight("a").ToDoubleArray(), 16, 16) >= 8);
    }

    [Fact]
    public void CustomMask_IsUsed_AndMustHoldKEntries()
    {
        // A banded mask: the first r (in + out) = 11 entries of the diagonal band, row-major.
        static bool[] Band(Linear l, int r)
        {
            var m = new bool[l.OutFeatures * l.InFeatures];
            int set = 0;
            for (int i = 0; i < m.Length && set < r * (l.InFeatures + l.OutFeatures); i++)
                if (Math.Abs(i / l.InFeatures - i % l.InFeatures) <= 1) { m[i] = true; set++; }
            return m;
        }
        var layer = Shira(6, 5, new ShiraConfig { R = 1, MaskType = "band", MaskFn = Band, InitWeights = false });
        var idx = layer.Indices("a").ToArray<int>();
        Assert.All(Enumerable.Range(0, 11), i => Assert.True(Math.Abs(idx[i] - idx[11 + i]) <= 1));
        var e = Assert.Throws<ArgumentException>(() => Shira(6, 5, new ShiraConfig { R = 1, MaskType = "none", MaskFn = (l, r) => new bool[30] }));
        Assert.Contains("mask_fn", e.Message);
        // A custom mask type without the function cannot be drawn: refused by name rather than replaced by the random mask.
        var missing = Assert.Throws<ArgumentException>(() => Shira(6, 5, new ShiraConfig { R = 1, MaskType = "band" }));
        Assert.Contains("mask_type 'band'", missing.Message);
        Assert.Contains("MaskFn", missing.Message);
    }

    [Fact]
    public void Forward_AddsTheUpdate_WithGradients_AndScaleScalesIt()
    {
        var layer = Shira(5, 4, new ShiraConfig { R = 1, RandomSeed = 1, InitWeights = false });
        var x = Randn64(2, 3, 5);
        var baseOut = layer.BaseLayer.Forward(x).ToDoubleArray();
        var part = NaiveMatMulT(x.ToDoubleArray(), 3, layer.DeltaWeight("a").ToDoubleArray(), 5, 4);
        AssertClose(part.Select((v, i) => v + baseOut[i]).ToArray(), layer.Forward(x).ToDoubleArray(), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
        layer.SetScale("a", 0.5);
        AssertClose(part.Select((v, i) => 0.5 * v + baseOut[i]).ToArray(), layer.Forward(x).ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void TooLargeR_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => Shira(4, 4, new ShiraConfig { R = 3 }));
        Assert.Contains("r·(in + out)", e.Message);
    }

    [Fact]
    public void ALoadedColumnIndexBeyondTheInputWidth_IsRefused_EvenWhenBelowTheOutputWidth()
    {
        // qkv is [24, 8]: column 20 lies inside the rows' bound but outside the columns' (each row of shira_indices
        // has its own bound, PlannedTensor.RowIndexBounds).
        var folder = TempFolder();
        try
        {
            Peft.Apply(TinyGpt(), new ShiraConfig { R = 1, RandomSeed = 1, TargetModules = ["qkv"] }).SavePretrained(folder);
            var path = Path.Combine(folder, AdapterFiles.WeightsFileName);
            var tensors = Safetensors.Load(path).ToDictionary(kv => kv.Key, kv => kv.Value);
            var key = tensors.Keys.First(k => k.EndsWith(".shira_indices"));
            var idx = tensors[key].ToArray<int>();
            idx[idx.Length / 2] = 20;
            tensors[key] = Tensor.FromArray(idx, tensors[key].Shape);
            Safetensors.Save(path, tensors);
            var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(TinyGpt(), folder));
            Assert.True(e.Message.Contains("[0, 8)"), e.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
