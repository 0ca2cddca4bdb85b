using Engine.Peft.Elementwise;
using Xunit;
using static Engine.Peft.Tests.Elementwise.ElementwiseTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Elementwise;

/// <summary>GLoRA: W' = W0 + W0 ⊙ A + B, b' = b0 + b0 ⊙ D + E + W0 C, for every kind of path.</summary>
public class GloraTests
{
    static GloraLayer Glora(GloraConfig config, bool bias = true, params string[] names) => Layer(l => new GloraLayer(l), 4, 3, config, bias, names);

    [Theory]
    [InlineData("lora", "lora", "constant")]
    [InlineData("vector", "vector", "vector")]
    [InlineData("constant", "none", "none")]
    [InlineData("none", "lora", "vector")]
    public void Forward_IsTheGeneralisedWeightAndBias(string ab, string c, string de)
    {
        const int inF = 4, outF = 3;
        var layer = Glora(new GloraConfig { R = 2, ConfigAB = ab, ConfigC = c, ConfigDE = de, InitWeights = false });
        foreach (var t in layer.AdapterTensors("a").Where(t => t.Trainable)) Scramble(t.Tensor, (ulong)t.Key.Length, 0.5);
        // Each path's value broadcast by hand to its full shape.
        double[] Full(string path, int rows, int cols)
        {
            var v = layer.PathValue(path, "a").ToDoubleArray();
            return Enumerable.Range(0, rows * cols).Select(i => v.Length == 1 ? v[0] : v.Length == rows ? v[i / cols] : v[i]).ToArray();
        }
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var b = layer.BaseLayer.Bias!.ToDoubleArray();
        var (a, bb, cc, d, e) = (Full("glora_A", outF, inF), Full("glora_B", outF, inF), Full("glora_C", inF, 1), Full("glora_D", outF, 1), Full("glora_E", outF, 1));
        var w2 = w.Select((v, i) => v + v * a[i] + bb[i]).ToArray();
        var b2 = b.Select((v, o) => v + v * d[o] + e[o] + Enumerable.Range(0, inF).Sum(i => w[o * inF + i] * cc[i])).ToArray();
        var x = Randn64(3, 5, inF);
        AssertClose(NaiveMatMulT(x.ToDoubleArray(), 5, w2, inF, outF).Select((v, i) => v + b2[i % outF]).ToArray(), Out(layer, x), 1e-12);
        if (layer.AdapterTensors("a").Any(t => t.Trainable)) AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void WithoutABaseBias_CDAndEAreSavedZeros_AsPeft()
    {
        var layer = Glora(new GloraConfig { R = 2 }, bias: false);
        var keys = layer.AdapterTensors("a").ToDictionary(t => t.Key);
        Assert.Equal(["glora_A.Xd", "glora_A.Xu", "glora_B.Xd", "glora_B.Xu", "glora_C.zeros", "glora_D.zeros", "glora_E.zeros"], keys.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([4, 1], keys["glora_C.zeros"].Tensor.Shape);
        Assert.Equal([3], keys["glora_E.zeros"].Tensor.Shape);
        Assert.False(keys["glora_D.zeros"].Trainable);
        // PEFT's init: Xd = 0, Xu Kaiming-uniform.
        Assert.All(keys["glora_A.Xd"].Tensor.ToDoubleArray(), v => Assert.Equal(0, v));
        Assert.Contains(keys["glora_A.Xu"].Tensor.ToDoubleArray(), v => v != 0);
    }

    [Fact]
    public void MergingTwoAdapters_UsesTheOriginalWeights_AndUnmergeRestoresThemBitForBit()
    {
        var layer = Glora(new GloraConfig { R = 2, ConfigDE = "vector", InitWeights = false }, names: ["a", "b"]);
        foreach (var t in layer.AdapterTensors("a").Concat(layer.AdapterTensors("b")).Where(t => t.Trainable)) Scramble(t.Tensor, (ulong)t.Tensor.Numel, 0.4);
        var x = Randn64(9, 4, 4);
        var (w0, b0) = (layer.BaseLayer.Weight.ToDoubleArray(), layer.BaseLayer.Bias!.ToDoubleArray());
        var unmerged = Out(layer, x);
        layer.Merge(["a"]);
        AssertClose(unmerged, Out(layer, x), 1e-12);
        layer.Merge(["b"]);
        AssertClose(unmerged, Out(layer, x), 1e-12);
        layer.Unmerge();
        Assert.Equal(w0, layer.BaseLayer.Weight.ToDoubleArray());
        Assert.Equal(b0, layer.BaseLayer.Bias!.ToDoubleArray());
    }
}
