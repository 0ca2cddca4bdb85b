using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Sharing;

/// <summary>
/// A short check of <see cref="LayerTying"/> used by FoldGPT (spec structure-and-optimizers.md 1.1): the patterns'
/// maps as the spec writes them, tying by Average gives each group's mean in one tensor, and the tied tensor's gradient
/// is the sum of the gradients an untied copy with the same values gives its layers (the spec's oracle).
/// </summary>
public class LayerTyingPatternTests
{
    [Fact]
    public void Patterns_MapLayersAsTheSpecWritesThem()
    {
        Assert.Equal([0, 1, 0, 1, 0, 1], LayerTying.BlockOf(TyingPattern.Cycle, 6, 3));
        Assert.Equal([0, 0, 0, 1, 1, 1], LayerTying.BlockOf(TyingPattern.Sequence, 6, 3));
        Assert.Equal([0, 1, 2, 1, 2, 3], LayerTying.BlockOf(TyingPattern.MiddleCycle, 6, 2));
        Assert.Equal([0, 1, 1, 2, 2, 3], LayerTying.BlockOf(TyingPattern.MiddleSequence, 6, 2));
        Assert.Throws<ArgumentException>(() => LayerTying.BlockOf(TyingPattern.Cycle, 5, 2));
    }

    [Fact]
    public void TiedTensorGradient_IsTheSumOfTheUntiedLayersGradients()
    {
        long[,] tokens = { { 1, 4, 2, 9 }, { 7, 0, 5, 10 } };
        var tied = (Gpt)TinyGpt(4).Eval();
        var untied = (Gpt)TinyGpt(4).Eval();
        LayerTying.Tie(tied.Blocks, [0, 1, 0, 1], TiedInit.Average);
        // The untied copy holds the tied values in every layer.
        using (Autograd.Autograd.NoGrad())
            foreach (var ((_, t), (_, u)) in tied.NamedParameters().Zip(untied.NamedParameters())) u.CopyFrom(t.Detach());
        Assert.Same(tied.Blocks[0].Attn.Qkv.Weight, tied.Blocks[2].Attn.Qkv.Weight);
        Assert.Same(tied.Blocks[1].Ln1.Weight, tied.Blocks[3].Ln1.Weight);

        var v = Randn(3, 2, 4, 11);
        Autograd.Autograd.Backward((tied.Forward(Ids(tokens)) * v).Sum());
        Autograd.Autograd.Backward((untied.Forward(Ids(tokens)) * v).Sum());
        var expected = (untied.Blocks[1].Mlp.Fc.Weight.Grad! + untied.Blocks[3].Mlp.Fc.Weight.Grad!).ToDoubleArray();
        AssertClose(expected, tied.Blocks[1].Mlp.Fc.Weight.Grad!.ToDoubleArray(), 1e-5);
        Assert.Equal(untied.ParameterCount() - 2 * untied.Blocks[0].ParameterCount(), tied.ParameterCount());
    }
}
