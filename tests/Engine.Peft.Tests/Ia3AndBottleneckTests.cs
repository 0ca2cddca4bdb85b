using Engine.Nn.Checkpoints;
using Engine.Peft.Inserted;
using Engine.Peft.Scaling;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>IA3 scaling vectors and Houlsby bottleneck adapters: formulas, gradients, merging, training, files.</summary>
public class Ia3AndBottleneckTests
{
    static Ia3Config Ia3() => new() { TargetModules = ["qkv", "mlp.proj"], FeedforwardModules = ["mlp.proj"] };

    static BottleneckConfig Bottleneck() => new() { BottleneckSize = 3, TargetModules = ["attn.proj", "mlp.proj"], Seed = 4, InitStd = 0.3 };

    static void ScrambleTrainable(PeftModel peft, ulong seed)
    {
        foreach (var p in peft.TrainableParameters()) Scramble(p, seed++, 0.4);
        using (Autograd.Autograd.NoGrad())
            foreach (var (_, l) in peft.AdapterLayers())
                if (l is Ia3Layer ia3) ia3.Vector("default").CopyFrom(ia3.Vector("default").Detach().Abs() + 0.5);
    }

    [Fact]
    public void Ia3_ScalesOutputsOrFeedForwardInputs_AndGradientsMatchFiniteDifferences()
    {
        var peft = Peft.Apply(TinyGpt(), Ia3());
        ScrambleTrainable(peft, 1);
        peft.To(DType.Float64);
        var layers = peft.AdapterLayers().ToDictionary(l => l.Path, l => (Ia3Layer)l.Layer);
        Assert.Equal([24, 1], layers["blocks.0.attn.qkv"].Vector("default").Shape);
        Assert.Equal([1, 16], layers["blocks.0.mlp.proj"].Vector("default").Shape);

        var qkv = layers["blocks.0.attn.qkv"];
        var x = Randn64(3, 2, 8);
        var l = qkv.Vector("default").ToDoubleArray();
        var baseOut = qkv.BaseLayer.Forward(x).ToDoubleArray();
        AssertClose(baseOut.Select((v, i) => v * l[i % 24]).ToArray(), qkv.Forward(x).ToDoubleArray(), 1e-12, "output scaling");

        var proj = layers["blocks.0.mlp.proj"];
        var h = Randn64(4, 2, 16);
        var lf = proj.Vector("default").ToDoubleArray();
        var scaledInput = Tensor.FromArray(h.ToDoubleArray().Select((v, i) => v * lf[i % 16]).ToArray(), [2, 16]);
        AssertClose(proj.BaseLayer.Forward(scaledInput), proj.Forward(h), 1e-12, "input scaling");

        AssertInputGradients(xs => qkv.Forward(xs[0]), x);
        AssertParameterGradients(qkv, () => qkv.Forward(x));
        AssertInputGradients(xs => proj.Forward(xs[0]), h);
        AssertParameterGradients(proj, () => proj.Forward(h));
        Assert.Equal(2 * (24 + 16), peft.PrintTrainableParameters(TextWriter.Null).Trainable);
    }

    [Fact]
    public void Ia3MergeUnmerge_RoundTripsWeightsAndBiases()
    {
        var peft = Peft.Apply(TinyGpt(), Ia3());
        ScrambleTrainable(peft, 2);
        var x = Ids();
        var y = peft.Forward(x).ToDoubleArray();
        var before = peft.Model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());
        peft.Merge();
        AssertClose(y, peft.Forward(x).ToDoubleArray(), 1e-5);
        peft.Unmerge();
        foreach (var (name, t) in peft.Model.StateDict())
        {
            var now = t.ToArray<float>();
            for (int i = 0; i < now.Length; i++) Assert.True(Math.Abs(before[name][i] - now[i]) <= 1e-6, $"{name}[{i}]");
        }
        AssertClose(y, peft.MergeAndUnload().Forward(x).ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void Bottleneck_AddsResidualNonLinearAdapter_AndGradientsMatchFiniteDifferences()
    {
        var peft = Peft.Apply(TinyGpt(), Bottleneck());
        peft.To(DType.Float64);
        var layer = (BottleneckLayer)peft.AdapterLayers().First().Layer;
        var x = Randn64(5, 2, 8);
        // y = h + W_up gelu(W_down h + b_down) + b_up with h the base output, by hand.
        var h = layer.BaseLayer.Forward(x);
        var down = layer.DownProjection("default");
        var up = layer.UpProjection("default");
        var z = NaiveMatMulT(h.ToDoubleArray(), 2, down.Weight.ToDoubleArray(), 8, 3).Select((v, i) => v + down.Bias!.ToDoubleArray()[i % 3])
            .Select(v => 0.5 * v * (1 + Erf(v / Math.Sqrt(2)))).ToArray();
        var u = NaiveMatMulT(z, 2, up.Weight.ToDoubleArray(), 3, 8).Select((v, i) => v + up.Bias!.ToDoubleArray()[i % 8]).ToArray();
        AssertClose(h.ToDoubleArray().Select((v, i) => v + u[i]).ToArray(), layer.Forward(x).ToDoubleArray(), 1e-9);
        AssertInputGradients(xs => layer.Forward(xs[0]), x);
        AssertParameterGradients(layer, () => layer.Forward(x));
        Assert.Throws<NotSupportedException>(() => peft.Merge());
    }

    static double Erf(double x)
    {
        double sum = 0, term = x;
        for (int n = 0; n < 100; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    public static TheoryData<string> Methods => new() { "ia3", "bottleneck" };

    [Theory]
    [MemberData(nameof(Methods))]
    public void Training_LeavesBaseBitIdenticalAndSaveLoadGivesIdenticalOutputs(string method)
    {
        var gpt = TinyGpt();
        gpt.Train();
        var before = gpt.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());
        PeftModel peft = method == "ia3" ? Peft.Apply(gpt, Ia3()) : Peft.Apply(gpt, Bottleneck());
        var opt = new AdamW(peft.TrainableParameters(), lr: 1e-2);
        for (int step = 0; step < 3; step++)
        {
            peft.Forward(Ids()).Square().Mean().Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        var adapterTensors = peft.AdapterLayers().SelectMany(l => l.Layer.AdapterTensors("default").Select(t => t.Tensor)).ToList();
        foreach (var (name, p) in gpt.NamedParameters().Where(p => !adapterTensors.Contains(p.Parameter)))
            Assert.Equal(before[name.Replace(".base_layer", "")], p.ToArray<float>());

        peft.Eval();
        var x = Ids();
        var expected = peft.Forward(x).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var keys = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName)).Keys.ToList();
            Assert.Contains(method == "ia3" ? "base_model.model.transformer.h.0.attn.c_attn.ia3_l" : "base_model.model.transformer.h.0.attn.c_proj.adapter_down.weight", keys);
            Assert.Equal(expected, Peft.FromPretrained(TinyGpt(), folder).Forward(x).ToDoubleArray());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
