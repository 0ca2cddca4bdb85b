using Xunit;

namespace Engine.Nn.Tests;

/// <summary><see cref="Module.CopyLeaf"/>: an independent copy of a layer without sub-modules.</summary>
public class ModuleCopyTests
{
    [Fact]
    public void CopyLeaf_HasEqualValuesInIndependentTensors()
    {
        var original = new Linear(3, 2, bias: true, new Generator(4));
        original.Bias!.RequiresGrad = false;
        var copy = (Linear)original.CopyLeaf();
        Assert.Equal(original.Weight.ToArray<float>(), copy.Weight.ToArray<float>());
        Assert.Equal(original.Bias.ToArray<float>(), copy.Bias!.ToArray<float>());
        Assert.NotSame(original.Weight, copy.Weight);
        Assert.True(copy.Weight.RequiresGrad);
        Assert.False(copy.Bias.RequiresGrad);
        var before = original.Weight.ToArray<float>();
        using (Autograd.Autograd.NoGrad()) copy.Weight.CopyFrom(copy.Weight.Detach() + 1);
        Assert.Equal(before, original.Weight.ToArray<float>());
        var x = Tensor.Ones(2, 3);
        Assert.NotEqual(original.Forward(x).ToArray<float>(), copy.Forward(x).ToArray<float>());
    }

    [Fact]
    public void CopyLeaf_OfAModuleWithSubModules_IsNotSupported()
    {
        var e = Assert.Throws<NotSupportedException>(() => new Mlp(4, 8, new GELU(), 0, null).CopyLeaf());
        Assert.Contains("fc", e.Message);
    }
}
