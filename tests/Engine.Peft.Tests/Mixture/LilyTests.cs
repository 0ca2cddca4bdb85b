using Engine.Nn.Checkpoints;
using Engine.Peft.Mixture;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Mixture;

/// <summary>
/// Lily's defining properties, with expected values computed independently of the layer: the router's mixture weights
/// are a probability vector equal to a naive softmax average over every token; A is shared by stride_A consecutive
/// layers of one target and B by all of them, and they stay one tensor (identical everywhere) through training; merging
/// is refused; a file whose copies of a shared tensor disagree is refused naming both keys.
/// </summary>
public class LilyTests
{
    static readonly ModuleSelector Linears = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"];

    static LilyConfig Config(int strideA = 2) => new() { R = 3, StrideA = strideA, NumB = 3, TargetModules = Linears, InitWeights = false, Seed = 4 };

    static List<(string Path, LilyLayer Layer)> Layers(PeftModel peft) =>
        peft.AdapterLayers().Where(l => l.Layer is LilyLayer).Select(l => (l.Path, (LilyLayer)l.Layer)).ToList();

    [Fact]
    public void RouterWeights_AreTheSoftmaxOfEveryTokenAveraged_AndSumToOne()
    {
        var peft = Peft.Apply(TinyGpt(layers: 3), Config());
        var layer = Layers(peft)[0].Layer;
        var x = Randn(9, 2, 5, layer.InFeatures);
        var p = layer.RouterProbabilities("default", x).ToDoubleArray();
        Assert.Equal(3, p.Length);
        Assert.Equal(1.0, p.Sum(), 6);
        Assert.All(p, v => Assert.InRange(v, 0, 1));

        // Naive: h = x A^T, logits = h R^T per token, softmax per token, mean over the 10 tokens.
        var xs = x.ToDoubleArray();
        var a = layer.A("default").Weight.ToDoubleArray();
        var router = layer.Router("default").Weight.ToDoubleArray();
        int inF = layer.InFeatures, tokens = 10;
        var h = NaiveMatMulT(xs, tokens, a, inF, 3);
        var logits = NaiveMatMulT(h, tokens, router, 3, 3);
        var expected = new double[3];
        for (int t = 0; t < tokens; t++)
        {
            var e = Enumerable.Range(0, 3).Select(j => Math.Exp(logits[t * 3 + j])).ToArray();
            for (int j = 0; j < 3; j++) expected[j] += e[j] / e.Sum() / tokens;
        }
        for (int j = 0; j < 3; j++) Assert.Equal(expected[j], p[j], 5);
    }

    [Fact]
    public void SharedTensors_FollowStrideAAndTarget_AndStayIdenticalAfterTraining()
    {
        var peft = Peft.Apply(TinyGpt(layers: 3), Config(strideA: 2));
        var qkv = Layers(peft).Where(l => l.Path.EndsWith("qkv")).Select(l => l.Layer).ToList();
        var fc = Layers(peft).Where(l => l.Path.EndsWith("mlp.fc")).Select(l => l.Layer).ToList();
        Assert.Equal(3, qkv.Count);
        // stride 2 over three layers: A of layers 0 and 1 is one tensor, layer 2 has its own; B is one for all three.
        Assert.Same(qkv[0].A("default").Weight, qkv[1].A("default").Weight);
        Assert.NotSame(qkv[0].A("default").Weight, qkv[2].A("default").Weight);
        Assert.All(qkv, l => Assert.Same(qkv[0].B("default").Weight, l.B("default").Weight));
        // Other targets have their own; routers are per layer.
        Assert.NotSame(qkv[0].B("default").Weight, fc[0].B("default").Weight);
        Assert.NotSame(qkv[0].Router("default").Weight, qkv[1].Router("default").Weight);

        var optimizer = new AdamW(peft.TrainableParameters(), lr: 1e-2, weightDecay: 0);
        var before = qkv[0].B("default").Weight.ToDoubleArray();
        for (int step = 0; step < 3; step++)
        {
            var y = peft.Forward(Ids());
            (y * y).Mean().Backward();
            optimizer.Step();
            optimizer.ZeroGrad();
        }
        Assert.NotEqual(before, qkv[0].B("default").Weight.ToDoubleArray());
        // What files hold: every key of a shared tensor carries the same values.
        var state = AdapterFiles.StateDict(peft, "default");
        string Key(int layer, string tensor) => state.Keys.Single(k => k.Contains($".{layer}.attn.c_attn.") && k.EndsWith(tensor));
        Assert.Equal(state[Key(0, "lily_A.weight")].ToDoubleArray(), state[Key(1, "lily_A.weight")].ToDoubleArray());
        Assert.NotEqual(state[Key(0, "lily_A.weight")].ToDoubleArray(), state[Key(2, "lily_A.weight")].ToDoubleArray());
        Assert.Equal(state[Key(0, "lily_B.weight")].ToDoubleArray(), state[Key(2, "lily_B.weight")].ToDoubleArray());
    }

    [Fact]
    public void Merge_IsRefusedNamingLily()
    {
        var peft = Peft.Apply(TinyGpt(), Config());
        var e = Assert.Throws<NotSupportedException>(() => peft.Merge());
        Assert.Contains("LILY", e.Message);
        var layer = Layers(peft)[0].Layer;
        Assert.Throws<NotSupportedException>(() => layer.Merge());
    }

    [Fact]
    public void Load_RefusesAFileWhoseSharedCopiesDiffer_AndLoadsEqualOnesExactly()
    {
        var peft = Peft.Apply(TinyGpt(), Config(strideA: 2));
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var again = Peft.FromPretrained(TinyGpt(), folder);
            Assert.Equal(LawCasesOutputs(peft), LawCasesOutputs(again));
            var again0 = Layers(again).First(l => l.Path.EndsWith("0.attn.qkv")).Layer;
            var again1 = Layers(again).First(l => l.Path.EndsWith("1.attn.qkv")).Layer;
            Assert.Same(again0.B("default").Weight, again1.B("default").Weight);

            var path = Path.Combine(folder, AdapterFiles.WeightsFileName);
            var tensors = Safetensors.Load(path);
            var key = tensors.Keys.First(k => k.Contains(".1.attn.c_attn.lily_B"));
            tensors[key] = tensors[key] + 1;
            Safetensors.Save(path, tensors);
            var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(TinyGpt(), folder));
            Assert.Contains(key, e.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    static double[] LawCasesOutputs(PeftModel peft)
    {
        using (Autograd.Autograd.NoGrad()) return peft.Forward(Ids()).ToDoubleArray();
    }
}
