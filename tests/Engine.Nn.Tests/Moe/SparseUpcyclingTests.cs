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

    [Fact]
    public void FfnCopies_BecomeTheExperts_AndEverythingElseIsTheSharedModels()
    {
        var shared = TinyGpt(layers: 2, seed: 4);
        ScrambleAll(shared, 40, 0.3);
        var copies = Enumerable.Range(0, 3).Select(i =>
        {
            var c = TinyGpt(layers: 2, seed: 4);
            c.LoadStateDict(shared.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Detach().Clone()));
            SparseUpcycling.TrainOnlyFeedForwards(c);
            // A stage trains only the FFNs; its other tensors are scrambled here to show they are not taken.
            foreach (var (name, p) in c.NamedParameters()) Scramble(p, (ulong)(100 * i + name.Length), 0.3);
            return c;
        }).ToList();
        Assert.All(copies[0].NamedParameters(), p => Assert.Equal(p.Name.Contains(".mlp."), p.Parameter.RequiresGrad));
        var moe = SparseUpcycling.FromFeedForwardCopies(shared, copies, new MoeOptions(3, TopK: 2), new Generator(6));
        var state = moe.StateDict();
        Assert.Equal(copies[2].StateDict()["blocks.1.mlp.proj.weight"].ToDoubleArray(), state["blocks.1.moe.experts.2.proj.weight"].ToDoubleArray());
        Assert.Equal(copies[0].StateDict()["blocks.0.mlp.fc.bias"].ToDoubleArray(), state["blocks.0.moe.experts.0.fc.bias"].ToDoubleArray());
        Assert.Equal(shared.StateDict()["blocks.1.attn.qkv.weight"].ToDoubleArray(), state["blocks.1.attn.qkv.weight"].ToDoubleArray());
        Assert.Equal(shared.StateDict()["tok.weight"].ToDoubleArray(), state["tok.weight"].ToDoubleArray());
        Assert.Contains("2 FFN copies for 3", Assert.Throws<ArgumentException>(() => SparseUpcycling.FromFeedForwardCopies(shared, copies.Take(2).ToList(), new MoeOptions(3))).Message);
    }
}
