using Engine.Peft.SharedBank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.SharedBank;

/// <summary>
/// The properties the shared-bank methods state, with expected values computed independently of the layers: VB-LoRA's
/// sub-vectors are convex top-k mixtures of bank rows (one row exactly at k = 1), TinyLoRA's frozen factors are the
/// balanced truncated SVD and v = e_i gives B P_i A, PVeRA's training samples average to its mean, UniLoRA's
/// assignment is balanced with unit squared scale per slot; and the engine's own files reload exactly.
/// </summary>
public class SharedBankPropertyTests
{
    static readonly ModuleSelector Linears = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"];

    static T Layer<T>(PeftModel peft) where T : AdapterLayer => peft.AdapterLayers().Select(l => l.Layer).OfType<T>().First();

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void VbLora_EverySubVectorIsTheSoftmaxMixtureOfItsTopKBankRows(int k)
    {
        var peft = Peft.Apply(TinyGpt(), new VbLoraConfig { R = 2, NumVectors = 7, VectorLength = 8, Topk = k, InitLogitsStd = 1, TargetModules = ["qkv"], Seed = 3 });
        var layer = Layer<VbLoraLayer>(peft);
        var bank = ((VbLoraBank)peft.ModelPart("default")!).Bank.ToDoubleArray();
        var logits = layer.LogitsA("default").ToDoubleArray();
        var a = layer.A("default").ToDoubleArray();
        const int n = 7, l = 8;
        for (int row = 0; row < logits.Length / n; row++)
        {
            var top = Enumerable.Range(0, n).OrderByDescending(j => logits[row * n + j]).Take(k).ToArray();
            var e = top.Select(j => Math.Exp(logits[row * n + j] - logits[row * n + top[0]])).ToArray();
            for (int c = 0; c < l; c++)
            {
                double expected = top.Select((j, t) => e[t] / e.Sum() * bank[j * l + c]).Sum();
                // A [r, in] is the [r, in/L, L] sub-vectors in order: row (i, tile) is a[i * in + tile * L ..].
                if (k == 1) Assert.Equal(bank[top[0] * l + c], a[row * l + c]);
                else Assert.Equal(expected, a[row * l + c], 6);
            }
        }
    }

    [Fact]
    public void VbLora_SaveOnlyTopkWeights_WritesIndicesAndWeights_AndReloadsForInferenceWithTheSameOutput()
    {
        var config = new VbLoraConfig { R = 2, NumVectors = 7, VectorLength = 8, Topk = 3, SaveOnlyTopkWeights = true, InitLogitsStd = 1, TargetModules = Linears, Seed = 3 };
        var peft = Peft.Apply(TinyGpt(), config);
        var expected = peft.Forward(Ids());
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var file = Engine.Nn.Checkpoints.Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            Assert.DoesNotContain(file.Keys, k => k.EndsWith(".vblora_logits_A", StringComparison.Ordinal));
            // qkv (GPT-2's c_attn) is [24, 8]: logits A [2, 1, 7] -> weights [2, 1, 2], indices [2, 1, 3].
            var weights = file.First(kv => kv.Key.EndsWith(".attn.c_attn.vblora_logits_A_topk_weights", StringComparison.Ordinal)).Value;
            Assert.Equal([2, 1, 2], weights.Shape);
            Assert.Equal([2, 1, 3], file.First(kv => kv.Key.EndsWith(".attn.c_attn.vblora_logits_A_topk_indices", StringComparison.Ordinal)).Value.Shape);
            var loaded = Peft.FromPretrained(TinyGpt(), folder);
            AssertClose(expected, loaded.Forward(Ids()), 1e-5);
            Assert.Throws<NotSupportedException>(() => Peft.FromPretrained(TinyGpt(), folder, trainable: true));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Theory]
    [InlineData("indices", 7.0)]
    [InlineData("weights", 0.9)]
    public void VbLora_TopKFileWithABadIndexOrWeight_IsRefusedNamingTheTensor(string which, double value)
    {
        var peft = Peft.Apply(TinyGpt(), new VbLoraConfig { R = 2, NumVectors = 7, VectorLength = 8, Topk = 3, SaveOnlyTopkWeights = true, TargetModules = ["qkv"], Seed = 3 });
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var path = Path.Combine(folder, AdapterFiles.WeightsFileName);
            var tensors = Engine.Nn.Checkpoints.Safetensors.Load(path);
            var key = tensors.Keys.First(k => k.EndsWith("vblora_logits_B_topk_" + which, StringComparison.Ordinal));
            // Index 7 of a bank of 7 rows reads outside it; two weights of 0.9 sum past 1.
            var values = tensors[key].ToDoubleArray();
            values[0] = value;
            values[1] = value;
            tensors[key] = Tensor.FromArray(values, tensors[key].Shape).To(tensors[key].DType);
            Engine.Nn.Checkpoints.Safetensors.Save(path, tensors);
            var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(TinyGpt(), folder));
            Assert.Contains(key, e.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void TinyLora_FactorsAreTheBalancedTruncatedSvd_AndUnitVGivesBPA()
    {
        var peft = Peft.Apply(TinyGpt(), new TinyLoraConfig { R = 3, U = 4, TargetModules = ["qkv"], Seed = 3 });
        var layer = Layer<TinyLoraLayer>(peft);
        var a = layer.A("default").To(DType.Float64);
        var b = layer.B("default").To(DType.Float64);
        var w = layer.BaseLayer.Weight.To(DType.Float64);
        // A A^T = B^T B = diag(S_r), and W - B A keeps exactly the energy of the other singular values (Eckart-Young).
        var aat = (a % a.T).ToDoubleArray();
        var btb = (b.T % b).ToDoubleArray();
        AssertClose(aat, btb, 1e-4);
        for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) if (i != j) Assert.True(Math.Abs(aat[i * 3 + j]) < 1e-4);
        var s = Enumerable.Range(0, 3).Select(i => aat[i * 3 + i]).ToArray();
        double total = w.ToDoubleArray().Sum(v => v * v), kept = s.Sum(v => v * v);
        double residual = (w - b % a).ToDoubleArray().Sum(v => v * v);
        Assert.Equal(total - kept, residual, 4);
        // v = e_1: ΔW = B P_1 A.
        var v = layer.V("default");
        using (Autograd.Autograd.NoGrad()) v.CopyFrom(Tensor.FromArray(new float[] { 0, 1, 0, 0 }));
        var p1 = layer.P("default").Narrow(0, 1, 1).Reshape(3, 3).To(DType.Float64);
        AssertClose((b % p1 % a).ToDoubleArray(), layer.DeltaWeight("default").To(DType.Float64).ToDoubleArray(), 1e-5);
    }

    [Theory]
    [InlineData(8, 0.0, 8)]
    [InlineData(8, 0.5, 4)]
    [InlineData(8, 1.0, 1)]
    [InlineData(5, 0.5, 2)]
    public void TinyLora_WeightTyingSharesOneVectorPerGroup(int layers, double tying, int groups)
    {
        var gpt = TinyGpt(layers: layers / 4 + (layers % 4 > 0 ? 1 : 0));
        var targets = gpt.NamedModules().Where(m => m.Module is Linear && !m.Name.Contains("head")).Take(layers).Select(m => m.Name).ToArray();
        var peft = Peft.Apply(gpt, new TinyLoraConfig { R = 2, U = 3, WeightTying = tying, TargetModules = ModuleSelector.Regex("^(" + string.Join("|", targets.Select(System.Text.RegularExpressions.Regex.Escape)) + ")$"), Seed = 3 });
        Assert.Equal(groups, peft.NamedAdapterTensors("default").Count(t => t.Key.StartsWith("base_model.tinylora_v.", StringComparison.Ordinal)));
        var vectors = peft.AdapterLayers().Select(l => ((TinyLoraLayer)l.Layer).V("default")).ToList();
        Assert.Equal(layers, vectors.Count);
        Assert.Equal(groups, vectors.Distinct(ReferenceEqualityComparer.Instance).Count());
    }

    [Fact]
    public void Pvera_TrainingSamplesAverageToTheMeanThatEvaluationAndMergingUse()
    {
        var peft = Peft.Apply(TinyGpt(), new PveraConfig { R = 4, TargetModules = ["qkv"], InitWeights = false, GeneratorSeed = 9 });
        var x = Randn(5, 3, 8);
        var layer = Layer<PveraLayer>(peft);
        using var _ = Autograd.Autograd.NoGrad();
        var mean = layer.Forward(x).ToDoubleArray();
        var merged = layer.BaseLayer.Forward(x) + LinearMapT(x, layer.DeltaWeight("default"));
        AssertClose(mean, merged.ToDoubleArray(), 1e-5);
        layer.Train();
        const int samples = 2000;
        var sum = new double[mean.Length];
        var first = layer.Forward(x).ToDoubleArray();
        Assert.True(LawsDiffer(first, mean), "training must sample the latent");
        for (int i = 0; i < samples; i++)
        {
            var y = layer.Forward(x).ToDoubleArray();
            for (int j = 0; j < y.Length; j++) sum[j] += y[j] / samples;
        }
        double spread = first.Zip(mean, (a, b) => Math.Abs(a - b)).Max();
        double error = sum.Zip(mean, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(error < 0.15 * spread, $"the average of {samples} samples is {error} from the mean (one sample: {spread})");
    }

    static Tensor LinearMapT(Tensor x, Tensor w) => x % w.T;

    static bool LawsDiffer(double[] a, double[] b) => a.Zip(b, (p, q) => Math.Abs(p - q)).Max() > 1e-6;

    [Fact]
    public void UniLora_EveryThetaEntryIsUsedEvenlyWithUnitSquaredScale()
    {
        const int d = 37;
        var peft = Peft.Apply(TinyGpt(), new UniLoraConfig { R = 2, ThetaDLength = d, TargetModules = Linears, Seed = 3 });
        var counts = new long[d];
        var squares = new double[d];
        long total = 0;
        foreach (var (_, l) in peft.AdapterLayers())
        {
            var layer = (UniLoraLayer)l;
            foreach (var (key, t) in layer.AdapterTensors("default"))
                if (key.StartsWith("unilora_indices_", StringComparison.Ordinal))
                {
                    var idx = t.To(DType.Int64).ToArray<long>();
                    var scales = layer.AdapterTensors("default").Single(s => s.Key == key.Replace("indices", "scales")).Tensor.ToDoubleArray();
                    for (int i = 0; i < idx.Length; i++) { counts[idx[i]]++; squares[idx[i]] += scales[i] * scales[i]; }
                    total += idx.Length;
                }
        }
        Assert.All(counts, c => Assert.InRange(c, total / d, (total + d - 1) / d));
        Assert.All(squares, s => Assert.Equal(1, s, 5));
    }

    [Fact]
    public void UniLora_EngineFilesHoldTheIndicesWithSaveIndicesSet_AndReloadExactly()
    {
        var peft = Peft.Apply(TinyGpt(), new UniLoraConfig { R = 2, ThetaDLength = 20, InitThetaDBound = 0.5, TargetModules = Linears, Seed = 3 });
        var expected = peft.Forward(Ids()).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            Assert.True(((UniLoraConfig)AdapterFiles.ReadConfig(folder)).SaveIndices);
            // Another seed would draw other indices: the reload reads the file's.
            var loaded = Peft.FromPretrained(TinyGpt(), folder);
            Assert.Equal(expected, loaded.Forward(Ids()).ToDoubleArray());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void TinyLora_FileWithoutProjections_IsRefusedNamingTinyloraP()
    {
        var peft = Peft.Apply(TinyGpt(), new TinyLoraConfig { R = 2, U = 3, SaveProjection = false, TargetModules = ["qkv"], Seed = 3 });
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(TinyGpt(), folder));
            Assert.Contains("tinylora_P", e.Message);
            Assert.Contains("save_projection", e.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
