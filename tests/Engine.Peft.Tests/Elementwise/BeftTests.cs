using Engine.Peft.Elementwise;
using Xunit;
using static Engine.Peft.Tests.Elementwise.ElementwiseTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Elementwise;

/// <summary>BEFT: a trainable offset of the output, the same for every input; merged into the base bias.</summary>
public class BeftTests
{
    [Fact]
    public void OutputShift_IsTheOffset_WhateverTheInput()
    {
        var layer = Layer(l => new BeftLayer(l), 5, 4, new BeftConfig { InitWeights = false }, names: ["a", "b"]);
        var offset = layer.Bias("a").ToDoubleArray().Zip(layer.Bias("b").ToDoubleArray(), (p, q) => p + q).ToArray();
        foreach (ulong seed in new ulong[] { 1, 2, 3 })
        {
            var x = Randn64(seed, 3, 5) * (double)seed;
            var shift = Out(layer, x).Zip(Out(layer.BaseLayer, x), (y, y0) => y - y0).ToArray();
            AssertClose(Enumerable.Range(0, 3).SelectMany(_ => offset).ToArray(), shift, 1e-12);
        }
        AssertParameterGradients(layer, () => layer.Forward(Randn64(4, 2, 5)));
    }

    [Fact]
    public void Merge_AddsTheOffsetToTheBias_AndUnmergeTakesItOut()
    {
        var layer = Layer(l => new BeftLayer(l), 5, 4, new BeftConfig { InitWeights = false });
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var weight = layer.BaseLayer.Weight.ToDoubleArray();
        layer.Merge();
        AssertClose(bias.Zip(layer.Bias("a").ToDoubleArray(), (b, o) => b + o).ToArray(), layer.BaseLayer.Bias!.ToDoubleArray(), 1e-15);
        Assert.Equal(weight, layer.BaseLayer.Weight.ToDoubleArray());
        layer.Unmerge();
        AssertClose(bias, layer.BaseLayer.Bias!.ToDoubleArray(), 1e-15);
    }

    [Fact]
    public void ALayerWithoutBias_AddsTheOffset_ButRefusesToMerge()
    {
        var layer = Layer(l => new BeftLayer(l), 5, 4, new BeftConfig { InitWeights = false }, bias: false);
        var x = Randn64(1, 2, 5);
        Assert.NotEqual(Out(layer.BaseLayer, x), Out(layer, x));
        var e = Assert.Throws<NotSupportedException>(() => layer.Merge());
        Assert.Contains("BEFT", e.Message);
        Assert.False(layer.Merged);
    }
}
