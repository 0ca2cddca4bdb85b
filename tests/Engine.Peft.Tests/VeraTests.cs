using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Engine.Peft.RandomBasis;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>VeRA: shared frozen random matrices stored once, per-layer scaling vectors, files.</summary>
public class VeraTests
{
    static VeraConfig Config() => new() { R = 6, TargetModules = ["qkv", "fc", "mlp.proj"], ProjectionPrngKey = 5 };

    static PeftModel<Gpt> Adapted()
    {
        var peft = Peft.Apply(TinyGpt(), Config());
        ulong seed = 60;
        foreach (var p in peft.TrainableParameters()) Scramble(p, seed++, 0.5);
        return peft;
    }

    [Fact]
    public void SharedMatrices_AreStoredOnceAndReferencedByEveryLayer()
    {
        var peft = Adapted();
        // Widest input is mlp.proj's 16, widest output qkv's 24.
        Assert.Equal([6, 16], ((VeraProjections)peft.ModelPart("default")!).A.Shape);
        Assert.Equal([24, 6], ((VeraProjections)peft.ModelPart("default")!).B.Shape);
        Assert.Equal(2, peft.StateDict().Keys.Count(k => k.StartsWith("adapter_parts.default.vera_")));
        Assert.DoesNotContain(peft.StateDict().Keys, k => k.Contains("vera_A") && !k.StartsWith("adapter_parts."));
        var layers = peft.AdapterLayers().Select(l => (VeraLayer)l.Layer).ToList();
        Assert.All(layers, l => Assert.Same(((VeraProjections)peft.ModelPart("default")!).A.Storage, l.A("default").Storage));
        Assert.False(((VeraProjections)peft.ModelPart("default")!).A.RequiresGrad);
        // Trainable per layer: r + out.
        Assert.Equal(layers.Sum(l => 6 + l.OutFeatures), peft.PrintTrainableParameters(TextWriter.Null).Trainable);
    }

    [Fact]
    public void VeraForward_IsBasePlusScaledRandomProjection_AndGradientsMatchFiniteDifferences()
    {
        var peft = Adapted();
        peft.To(DType.Float64);
        var layer = (VeraLayer)peft.AdapterLayers().First(l => l.Path == "blocks.0.mlp.fc").Layer;
        var x = Randn64(7, 2, 3, 8);
        // Delta W = diag(b) B_s diag(d) A_s by loops.
        var a = layer.A("default").Contiguous().ToDoubleArray();
        var b = layer.B("default").Contiguous().ToDoubleArray();
        var lb = layer.LambdaB("default").ToDoubleArray();
        var ld = layer.LambdaD("default").ToDoubleArray();
        var scaledB = b.Select((v, i) => v * lb[i / 6] * ld[i % 6]).ToArray();
        var delta = NaiveProduct(scaledB, a, 16, 6, 8);
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var expected = NaiveMatMulT(x.ToDoubleArray(), 6, w.Select((v, i) => v + delta[i]).ToArray(), 8, 16).Select((v, i) => v + bias[i % 16]).ToArray();
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
        AssertClose(delta, layer.DeltaWeight("default").ToDoubleArray(), 1e-12);

        AssertInputGradients(xs => layer.Forward(xs[0]), x);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void VeraMergeUnmerge_RoundTrips()
    {
        AssertMergeRoundTrips(Adapted(), Ids());
    }

    [Fact]
    public void VeraTraining_UpdatesOnlyTheScalingVectors()
    {
        var gpt = TinyGpt();
        var peft = Peft.Apply(gpt, Config());
        var frozen = gpt.NamedParameters().Select(p => p.Parameter).Concat(peft.ModelParts.NamedBuffers().Select(b => b.Buffer))
            .Where(t => !peft.TrainableParameters().Contains(t)).Select(t => (t, t.ToArray<float>())).ToList();
        var opt = new AdamW(peft.TrainableParameters(), lr: 1e-2);
        for (int step = 0; step < 3; step++)
        {
            peft.Forward(Ids()).Square().Mean().Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        Assert.All(frozen, f => Assert.Equal(f.Item2, f.t.ToArray<float>()));
        Assert.All(peft.AdapterLayers(), l => Assert.Contains(((VeraLayer)l.Layer).LambdaB("default").ToArray<float>(), v => v != 0));
    }

    [Fact]
    public void VeraAdapter_SavesSharedMatricesOnceAndReloads()
    {
        var peft = Adapted();
        var x = Ids();
        var expected = peft.Forward(x).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var tensors = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            Assert.Equal([6, 16], tensors["base_model.vera_A"].Shape);
            Assert.Equal([24, 6], tensors["base_model.vera_B"].Shape);
            Assert.Equal([24], tensors["base_model.model.transformer.h.0.attn.c_attn.vera_lambda_b"].Shape);
            Assert.Equal([6], tensors["base_model.model.transformer.h.1.mlp.c_proj.vera_lambda_d"].Shape);
            Assert.Equal(2 + 6 * 2, tensors.Count);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, AdapterFiles.ConfigFileName)))!.AsObject();
            Assert.Equal("VERA", (string?)json["peft_type"]);
            Assert.Equal(6, (int)json["r"]!);
            Assert.True((bool)json["save_projection"]!);
            // A different seed on load: the file's matrices win.
            File.WriteAllText(Path.Combine(folder, AdapterFiles.ConfigFileName), json.ToJsonString().Replace("\"projection_prng_key\":5", "\"projection_prng_key\":9"));
            Assert.Equal(expected, Peft.FromPretrained(TinyGpt(), folder).Forward(x).ToDoubleArray());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
