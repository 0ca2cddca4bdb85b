using System.Numerics;
using Engine.Nn.Checkpoints;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Sharing;

/// <summary>
/// STABLE-RPS / ROAST on a GPT (spec adapters-other.md §16 oracles, structure-and-optimizers.md 1.5): RandomFold at
/// m = n reproduces the dense model (Pareto continuity), the memory gradient is the signed scatter-sum of the dense
/// weight gradients (written as loops here), every cell's load is ⌊n/m⌋ or ⌈n/m⌉, the v1 gradient scaling matches
/// its formula with the reference's 1e-3 per module, the computed-weight Linear passes GradCheck in Float64, the hash is
/// the reference's formula and deterministic per seed, and the export and a checkpoint round trip are exact.
/// </summary>
public class StableRpsTests
{
    static readonly long[,] Tokens = { { 1, 4, 2, 9, 3 }, { 7, 0, 5, 5, 10 } };

    static Gpt Model(int layers = 2, ulong seed = 1, int? kvHeads = null) => (Gpt)TinyGpt(layers, seed: seed, kvHeads: kvHeads).Eval();

    // Loops over the roasted layers' maps: how many weights each cell serves.
    static long[] NaiveLoad(StableRps rps)
    {
        var load = new long[rps.MemorySize];
        foreach (var layer in rps.Layers)
            foreach (var j in layer.Index) load[j]++;
        return load;
    }

    [Theory]
    [InlineData(2, null)]
    [InlineData(3, 1)]
    public void RandomFold_WithMemoryEqualToTheWeights_FromWeights_ReproducesTheDenseModel(int layers, int? kvHeads)
    {
        var model = Model(layers, kvHeads: kvHeads);
        var before = model.Forward(Ids(Tokens)).ToDoubleArray();
        long dense = model.ParameterCount();
        var rps = StableRps.Apply(model, new RpsSettings(1.0, Init: RpsInit.FromWeights));

        Assert.Equal(rps.RoastedWeights, rps.MemorySize);
        // A bijection: every cell serves exactly one weight.
        Assert.All(NaiveLoad(rps), l => Assert.Equal(1, l));
        AssertClose(before, model.Forward(Ids(Tokens)).ToDoubleArray(), 1e-6, "logits");
        Assert.Equal(dense, model.ParameterCount());
    }

    [Theory]
    [InlineData(RpsMapper.RandomFold, 0.3)]
    [InlineData(RpsMapper.HashedNet, 0.3)]
    [InlineData(RpsMapper.RoastTiles, 0.4)]
    [InlineData(RpsMapper.RandomFold, 1.5)]
    public void MemoryGradient_IsTheSignedScatterSumOfTheDenseWeightGradients(RpsMapper mapper, double fraction)
    {
        var model = Model();
        model.To(DType.Float64);
        var rps = StableRps.Apply(model, new RpsSettings(fraction, mapper, Seed: 7), new Generator(3));
        var ids = Ids(Tokens);
        var v = Randn64(11, 2, 5, 11);
        Autograd.Autograd.Backward((model.Forward(ids) * v).Sum());
        var zGrad = rps.Memory.Grad!.ToDoubleArray();
        var layers = rps.Layers.Select(l => (Index: l.Index.ToArray(), Sign: l.Sign.ToArray(), l.Scale)).ToList();

        // The same function with dense weights: the gradient of each W_l.
        rps.ToDense();
        model.ZeroGrad();
        Autograd.Autograd.Backward((model.Forward(ids) * v).Sum());
        var weightGrads = GptLinears.Of(model).Select(t => t.Linear.Weight.Grad!.ToDoubleArray()).ToList();

        var expected = new double[rps.MemorySize];
        for (int l = 0; l < layers.Count; l++)
            for (int k = 0; k < layers[l].Index.Length; k++)
                expected[layers[l].Index[k]] += layers[l].Scale * layers[l].Sign[k] * weightGrads[l][k];
        AssertClose(expected, zGrad, 1e-10, "dL/dz");
    }

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.3)]
    [InlineData(0.77)]
    [InlineData(1.7)]
    public void RandomFold_EveryCellServesFloorOrCeilOfNOverM(double fraction)
    {
        var model = Model(3);
        var rps = StableRps.Apply(model, new RpsSettings(fraction, Seed: 99));
        long n = rps.RoastedWeights, m = rps.MemorySize;
        long lo = n / m, hi = (n + m - 1) / m;
        var load = NaiveLoad(rps);
        Assert.All(load, l => Assert.InRange(l, lo, hi));
        Assert.Equal(n, load.Sum());
        Assert.Equal(load, rps.Load);
    }

    [Fact]
    public void HashedNet_DoesNotHaveTheOptimalLoad()
    {
        // The property above is RandomFold's, not any hash's: HashedNet at the same size leaves some cells far off.
        var rps = StableRps.Apply(Model(3), new RpsSettings(0.3, RpsMapper.HashedNet, Seed: 99));
        long lo = rps.RoastedWeights / rps.MemorySize, hi = lo + 1;
        Assert.Contains(NaiveLoad(rps), l => l < lo || l > hi);
    }

    [Fact]
    public void ScaleGradients_DividesByTheV1ScaleWithTheReferencesPerModuleCount()
    {
        var model = Model();
        var rps = StableRps.Apply(model, new RpsSettings(0.25, Seed: 5), new Generator(2));
        Autograd.Autograd.Backward(Losses.CrossEntropy(model.Forward(Ids(Tokens)), Ids(new long[,] { { 4, 2, 9, 3, 1 }, { 0, 5, 5, 10, 7 } })));
        var raw = rps.Memory.Grad!.ToDoubleArray();

        // count_j = Σ_l (n_lj + 1e-3), A_j = Σ_l s_l (n_lj + 1e-3); grad_j / (1e-6 + A_j² / (1e-3 + count_j)).
        long m = rps.MemorySize;
        var count = new double[m];
        var a = new double[m];
        foreach (var layer in rps.Layers)
        {
            var own = new double[m];
            foreach (var j in layer.Index) own[j]++;
            for (int j = 0; j < m; j++)
            {
                count[j] += own[j] + 1e-3;
                a[j] += layer.Scale * (own[j] + 1e-3);
            }
        }
        var expected = raw.Select((g, j) => g / (1e-6 + a[j] * a[j] / (1e-3 + count[j]))).ToArray();
        rps.ScaleGradients();
        AssertClose(expected, rps.Memory.Grad!.ToDoubleArray(), 1e-5, "scaled grad");
    }

    [Fact]
    public void LayerScale_IsTheWeightStdOverSigma0_AndWeightsAreScaledSignedMemoryEntries()
    {
        var model = Model();
        var stds = GptLinears.Of(model).Select(t =>
        {
            var w = t.Linear.Weight.ToDoubleArray();
            double mean = w.Average();
            return Math.Sqrt(w.Sum(x => (x - mean) * (x - mean)) / (w.Length - 1));
        }).ToArray();
        var rps = StableRps.Apply(model, new RpsSettings(0.5, InitStd: 0.05), new Generator(4));
        var z = rps.Memory.ToDoubleArray();
        Assert.All(z, x => Assert.InRange(x, -0.05, 0.05));
        var targets = GptLinears.Of(model);
        for (int l = 0; l < rps.Layers.Count; l++)
        {
            var layer = rps.Layers[l];
            AssertClose(stds[l] / 0.05, layer.Scale, 1e-6, "scale");
            var w = ((ComputedLinear)targets[l].Module).Weight.ToDoubleArray();
            var expected = layer.Index.Select((j, k) => layer.Scale * layer.Sign[k] * z[j]).ToArray();
            AssertClose(expected, w, 1e-6, "W");
        }
    }

    [Fact]
    public void ComputedLinear_OverARoastedWeight_PassesGradCheckInFloat64()
    {
        var hash = new UniversalHash(3);
        var z = Randn64(1, 40);
        var layer = new ComputedLinear(new RoastWeight(z, 6, 9, RpsMapping.Indices(RpsMapper.HashedNet, hash, 0, 6, 9, 40),
            RpsMapping.Signs(new UniversalHash(4), 0, 54), 0.7, 0), Randn64(2, 6));
        var x = Randn64(3, 2, 3, 9);
        AssertParameterGradients(layer, () => layer.Forward(x), perTensor: 40);
        AssertInputGradients(t => layer.Forward(t[0]), x.Clone().RequireGrad());
    }

    [Fact]
    public void RoastedGpt_PassesGradCheckInFloat64()
    {
        var model = Model(1);
        model.To(DType.Float64);
        StableRps.Apply(model, new RpsSettings(0.6, RpsMapper.RoastTiles), new Generator(6));
        var ids = Ids(Tokens);
        AssertParameterGradients(model, () => model.Forward(ids), perTensor: 8);
    }

    [Fact]
    public void Hash_IsTheReferenceFormula_WithWrappingProducts_AndDeterministicPerSeed()
    {
        var h = new UniversalHash(42);
        foreach (var a in new[] { h.A0, h.A1, h.A2 })
        {
            Assert.Equal(1, a % 2);
            Assert.InRange(a, 3, UniversalHash.P);
        }
        var p = new BigInteger(UniversalHash.P);
        foreach (long x in new long[] { 0, 1, 17, 40_000, 3_000_000_000L })
        {
            // torch int64: the polynomial wraps modulo 2^64 (signed), then % P takes the divisor's sign.
            var exact = new BigInteger(h.A0) * x + new BigInteger(h.A1) * x * x + h.A2;
            var wrapped = (long)(ulong)(exact & ulong.MaxValue);
            var mod = ((new BigInteger(wrapped) % p) + p) % p;
            Assert.Equal((long)(mod % 1000), h.Hash1(x, 1000));
            var exact2 = new BigInteger(h.A0) * x + new BigInteger(h.A1) * (x + 5) + h.A2;
            var mod2 = ((new BigInteger((long)(ulong)(exact2 & ulong.MaxValue)) % p) + p) % p;
            Assert.Equal((long)(mod2 % 777), h.Hash2(x, x + 5, 777));
        }

        var again = new UniversalHash(42);
        var other = new UniversalHash(43);
        Assert.Equal((h.A0, h.A1, h.A2), (again.A0, again.A1, again.A2));
        Assert.NotEqual((h.A0, h.A1, h.A2), (other.A0, other.A1, other.A2));
        foreach (var mapper in Enum.GetValues<RpsMapper>())
        {
            Assert.Equal(RpsMapping.Indices(mapper, h, 100, 20, 24, 300), RpsMapping.Indices(mapper, again, 100, 20, 24, 300));
            Assert.NotEqual(RpsMapping.Indices(mapper, h, 100, 20, 24, 300), RpsMapping.Indices(mapper, other, 100, 20, 24, 300));
        }
        Assert.Equal(RpsMapping.Signs(h, 0, 500), RpsMapping.Signs(again, 0, 500));
        var applied1 = StableRps.Apply(Model(), new RpsSettings(0.3, Seed: 8)).Layers.SelectMany(l => l.Index).ToArray();
        var applied2 = StableRps.Apply(Model(seed: 2), new RpsSettings(0.3, Seed: 8)).Layers.SelectMany(l => l.Index).ToArray();
        Assert.Equal(applied1, applied2);
    }

    [Fact]
    public void RoastTiles_PlaceEach16By16TileOfTheTransposedWeightContiguously()
    {
        var h = new UniversalHash(9);
        int rows = 20, cols = 40;
        long m = 1000, offset = 64;
        var idx = RpsMapping.Indices(RpsMapper.RoastTiles, h, offset, rows, cols, m);
        for (int o = 0; o < rows; o++)
            for (int i = 0; i < cols; i++)
            {
                long start = h.Hash2(i / 16 + offset, o / 16 + offset + cols, m - 256);
                Assert.Equal(start + (i % 16) * 16 + (o % 16), idx[o * cols + i]);
                Assert.InRange(idx[o * cols + i], 0, m - 1);
            }
    }

    [Fact]
    public void ToDense_KeepsTheFunction_AndRestoresTheDenseParameterCount()
    {
        var model = Model();
        long dense = model.ParameterCount();
        var rps = StableRps.Apply(model, new RpsSettings(0.2), new Generator(8));
        Assert.Equal(dense - rps.RoastedWeights + rps.MemorySize, model.ParameterCount());
        var roasted = model.Forward(Ids(Tokens)).ToDoubleArray();
        Assert.Equal(8, rps.ToDense());
        Assert.All(GptLinears.Of(model), t => Assert.IsType<Linear>(t.Module));
        Assert.Equal(dense, model.ParameterCount());
        AssertClose(roasted, model.Forward(Ids(Tokens)).ToDoubleArray(), 1e-6, "logits");
    }

    [Fact]
    public void Checkpoint_StoresTheMemoryOnce_AndRestoresBitForBit()
    {
        var settings = new RpsSettings(0.3, RpsMapper.RandomFold, Seed: 12);
        var model = Model(seed: 1);
        var rps = StableRps.Apply(model, settings, new Generator(5));
        Scramble(rps.Memory, 77, 0.05);
        var expected = model.Forward(Ids(Tokens)).ToDoubleArray();
        Assert.Equal(rps.Layers.Count - 1, model.TensorAliases().Count(a => a.Key.EndsWith(".w.z")));

        string path = Path.Combine(Path.GetTempPath(), $"engine-rps-{Guid.NewGuid():N}.safetensors");
        try
        {
            TrainingCheckpoint.Save(path, model, null, 0, values: settings.ToValues());
            // A differently initialised model with the stored settings: the maps are the same, z and scales are loaded.
            var stored = RpsSettings.FromValues(TrainingCheckpoint.ReadInfo(path).Values);
            Assert.Equal(settings, stored);
            var restored = Model(seed: 9);
            StableRps.Apply(restored, stored, new Generator(6));
            TrainingCheckpoint.Restore(path, restored);
            Assert.Equal(expected, restored.Forward(Ids(Tokens)).ToDoubleArray());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void BadSettings_AreNamedErrors()
    {
        Assert.Contains("leaves no memory", Assert.Throws<ArgumentException>(() => StableRps.Apply(Model(), new RpsSettings(0))).Message);
        Assert.Contains("ROAST tiles", Assert.Throws<ArgumentException>(() => StableRps.Apply(Model(1), new RpsSettings(0.2, RpsMapper.RoastTiles))).Message);
        var model = Model();
        StableRps.Apply(model, new RpsSettings(0.5));
        Assert.Contains("not a plain Linear", Assert.Throws<InvalidOperationException>(() => StableRps.Apply(model, new RpsSettings(0.5))).Message);
    }
}
