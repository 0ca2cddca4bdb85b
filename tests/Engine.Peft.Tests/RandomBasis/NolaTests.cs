using Engine.Peft.LowRank;
using Engine.Peft.RandomBasis;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.RandomBasis;

/// <summary>
/// NOLA (arXiv 2310.02556): the paper's point, that the trainable count is 2k per layer whatever the rank and the
/// width; ΔW = 0 at the start; ∂L/∂α equals the Frobenius products of ∂L/∂A with the bases, computed through an
/// independently materialised A; and exact reload from the seed alone (the file holds no basis).
/// </summary>
public class NolaTests
{
    static NolaConfig Config(int r, int k = 5, ulong seed = 3) =>
        new() { R = r, LoraAlpha = 2 * r, NolaNumBasis = k, NolaSeed = seed, TargetModules = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"] };

    static Gpt Model(int width) => (Gpt)new Gpt(new GptConfig(13, 16, width, 2, 2, MlpRatio: 2), new Generator(1)).Eval();

    [Theory]
    [InlineData(1, 8)]
    [InlineData(8, 8)]
    [InlineData(1, 32)]
    [InlineData(8, 32)]
    public void TrainableCount_IsTwoKPerLayer_WhateverTheRankAndWidth(int r, int width)
    {
        const int k = 7;
        var peft = Peft.Apply(Model(width), Config(r, k));
        int layers = peft.AdapterLayers().Count();
        Assert.Equal(8, layers);
        Assert.Equal(2L * k * layers, peft.ParameterCount(trainableOnly: true));
        // The same layers under LoRA of rank r grow with r and the width: NOLA's count is what it is for every row.
        var lora = Peft.Apply(Model(width), new LoraConfig { R = r, TargetModules = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"] });
        Assert.True(lora.ParameterCount(trainableOnly: true) >= (long)r * width * layers * 2);
    }

    [Fact]
    public void AtInit_DeltaWeightIsExactlyZero_AndTheModelIsTheBase()
    {
        var ids = Ids();
        double[] base_;
        using (Autograd.Autograd.NoGrad()) base_ = Model(8).Forward(ids).ToDoubleArray();
        var peft = Peft.Apply(Model(8), Config(4));
        foreach (var (_, layer) in peft.AdapterLayers())
            Assert.All(((NolaLayer)layer).DeltaWeight("default").ToDoubleArray(), v => Assert.Equal(0, v));
        using (Autograd.Autograd.NoGrad()) Assert.Equal(base_, peft.Forward(ids).ToDoubleArray());
    }

    [Fact]
    public void AlphaGradient_IsTheFrobeniusProductOfTheGradientOfAWithEachBasis_ThroughAMaterialisedA()
    {
        const int r = 3, k = 4, inF = 6, outF = 5;
        var layer = StandaloneLayer(l => new NolaLayer(l), inF, outF, new NolaConfig { R = r, LoraAlpha = 6, NolaNumBasis = k, NolaSeed = 9 });
        Scramble(layer.Alpha("a"), 1);
        Scramble(layer.Beta("a"), 2);
        var x = Randn64(4, 2, inF);
        var w = Randn64(5, 2, outF);
        (layer.Forward(x) * w).Sum().Backward();
        var alphaGrad = layer.Alpha("a").Grad!.ToDoubleArray();
        var betaGrad = layer.Beta("a").Grad!.ToDoubleArray();

        // The oracle: A and B materialised by loops as leaves, the same loss through them, then <dL/dA, P_i>_F.
        var bases = layer.Bases("a");
        double[] a0 = bases.A0.ToDoubleArray(), p = bases.P.ToDoubleArray(), q = bases.Q.ToDoubleArray();
        double[] alpha = layer.Alpha("a").ToDoubleArray(), beta = layer.Beta("a").ToDoubleArray();
        var aValues = new double[r * inF];
        var bValues = new double[outF * r];
        for (int j = 0; j < r * inF; j++)
        {
            aValues[j] = a0[j];
            for (int i = 0; i < k; i++) aValues[j] += alpha[i] * p[i * r * inF + j];
        }
        for (int j = 0; j < outF * r; j++)
            for (int i = 0; i < k; i++) bValues[j] += beta[i] * q[i * outF * r + j];
        var a = Tensor.FromArray(aValues).Reshape(r, inF);
        var b = Tensor.FromArray(bValues).Reshape(outF, r);
        a.RequiresGrad = true;
        b.RequiresGrad = true;
        var baseOut = layer.BaseLayer.Forward(x);
        ((baseOut + x.MatMul(a.T).MatMul(b.T) * (6.0 / r)) * w).Sum().Backward();
        var gA = a.Grad!.ToDoubleArray();
        var gB = b.Grad!.ToDoubleArray();
        for (int i = 0; i < k; i++)
        {
            double expectedAlpha = 0, expectedBeta = 0;
            for (int j = 0; j < r * inF; j++) expectedAlpha += gA[j] * p[i * r * inF + j];
            for (int j = 0; j < outF * r; j++) expectedBeta += gB[j] * q[i * outF * r + j];
            Assert.Equal(expectedAlpha, alphaGrad[i], 10);
            Assert.Equal(expectedBeta, betaGrad[i], 10);
        }
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void SaveAndLoad_IntoAFreshModel_GivesIdenticalLogitsAndBases_FromTheSeedAlone()
    {
        var peft = Peft.Apply(Model(8), Config(2, seed: 11));
        ulong s = 20;
        foreach (var t in peft.TrainableParameters()) Scramble(t, s++);
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var file = Engine.Nn.Checkpoints.Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            // Only the coefficients are in the file: 2 per layer, each [k].
            Assert.Equal(16, file.Count);
            Assert.All(file, kv => Assert.True(kv.Key.EndsWith(".nola_alpha") || kv.Key.EndsWith(".nola_beta"), kv.Key));
            Assert.Contains("\"nola_seed\": 11", File.ReadAllText(Path.Combine(folder, "adapter_config.json")));

            var loaded = Peft.FromPretrained(Model(8), folder);
            using (Autograd.Autograd.NoGrad())
                Assert.Equal(peft.Forward(Ids()).ToDoubleArray(), loaded.Forward(Ids()).ToDoubleArray());
            var before = peft.AdapterLayers().ToDictionary(l => l.Path, l => ((NolaLayer)l.Layer).Bases("default"));
            foreach (var (path, layer) in loaded.AdapterLayers())
            {
                var b = ((NolaLayer)layer).Bases("default");
                Assert.Equal(before[path].A0.ToDoubleArray(), b.A0.ToDoubleArray());
                Assert.Equal(before[path].P.ToDoubleArray(), b.P.ToDoubleArray());
                Assert.Equal(before[path].Q.ToDoubleArray(), b.Q.ToDoubleArray());
            }
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void Bases_DifferBetweenLayersAndFactors_AndFollowTheSeed()
    {
        var one = NolaBases.Generate(3, "h.0.attn", 2, 4, 8, 8, DType.Float32);
        var again = NolaBases.Generate(3, "h.0.attn", 2, 4, 8, 8, DType.Float32);
        var otherLayer = NolaBases.Generate(3, "h.1.attn", 2, 4, 8, 8, DType.Float32);
        var otherSeed = NolaBases.Generate(4, "h.0.attn", 2, 4, 8, 8, DType.Float32);
        Assert.Equal(one.P.ToDoubleArray(), again.P.ToDoubleArray());
        Assert.NotEqual(one.P.ToDoubleArray(), otherLayer.P.ToDoubleArray());
        Assert.NotEqual(one.P.ToDoubleArray(), otherSeed.P.ToDoubleArray());
        Assert.NotEqual(one.P.Narrow(0, 0, 2).ToDoubleArray(), one.Q.Narrow(0, 0, 2).ToDoubleArray());
        // U(±1/√k) bases and U(±1/√in) A0.
        Assert.True(one.P.Abs().Max().Item() < 0.5 && one.A0.Abs().Max().Item() < 1 / Math.Sqrt(8));
    }

    [Theory]
    [InlineData(0, 4, 0.0)]
    [InlineData(2, 0, 0.0)]
    [InlineData(2, 4, 1.0)]
    public void InvalidConfig_IsRefusedNamingTheField(int r, int k, double dropout)
    {
        var e = Assert.Throws<ArgumentException>(() => new NolaConfig { R = r, NolaNumBasis = k, LoraDropout = dropout }.Validate());
        Assert.Contains(r < 1 ? "r must" : k < 1 ? "nola_num_basis" : "lora_dropout", e.Message);
    }
}
