using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Moe;

/// <summary>Sparse upcycling (spec structure-and-optimizers.md 2.2) against the dense model it starts from.</summary>
public class SparseUpcyclingTests
{
    static Tensor Ids => TestSupport.Ids(new long[,] { { 1, 4, 2, 9, 3, 3, 7 }, { 0, 5, 10, 2, 8, 6, 1 } });

    [Fact]
    public void UpcycledModel_EqualsTheDenseModel_WithRenormalisedTopK()
    {
        var dense = TinyGpt(layers: 2, seed: 4);
        ScrambleAll(dense, 40, 0.3);
        dense.Eval();
        var moe = SparseUpcycling.Upcycle(dense, new MoeOptions(4, TopK: 2), new Generator(5));
        ScrambleAll(moe.Blocks[1].Moe!.Router, 50, 3.0);
        Assert.False(moe.Training);
        AssertClose(dense.Forward(Ids), moe.Forward(Ids), 1e-5);
        // The experts are copies, not the dense tensors: training one leaves the dense model alone.
        Assert.NotSame(dense.Blocks[0].Mlp.Fc.Weight, moe.Blocks[0].Moe!.Experts[0].Fc.Weight);
        Assert.Equal(dense.Blocks[0].Mlp.Fc.Weight.ToDoubleArray(), moe.Blocks[0].Moe!.Experts[3].Fc.Weight.ToDoubleArray());
    }

    [Fact]
    public void UpcycledSwitchModel_DiffersFromTheDense_AsItsWeightsAreNotRenormalised()
    {
        var dense = TinyGpt(layers: 1, seed: 4);
        ScrambleAll(dense, 40, 0.3);
        var moe = SparseUpcycling.Upcycle(dense, new MoeOptions(4, TopK: 1, Renormalize: false), new Generator(5));
        Assert.True((dense.Forward(Ids) - moe.Forward(Ids)).Abs().Max().Item() > 1e-4);
    }

    [Fact]
    public void Upcycling_RejectsAMoeModelAndASharedExpert()
    {
        var moe = new Gpt(new GptConfig(11, 16, 8, 1, 2, MlpRatio: 2, Moe: new MoeOptions(2)));
        Assert.Contains("already", Assert.Throws<ArgumentException>(() => SparseUpcycling.Upcycle(moe, new MoeOptions(2))).Message);
        Assert.Contains("shared expert", Assert.Throws<ArgumentException>(() => SparseUpcycling.Upcycle(TinyGpt(), new MoeOptions(2, SharedExpert: true))).Message);
    }
}
