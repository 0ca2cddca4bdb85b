using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Moe;

/// <summary>BAM (spec structure-and-optimizers.md 2.2, adapters-other.md 15): parallel blocks, attention experts, assembly.</summary>
public class BamTests
{
    static GptConfig Parallel => new(11, 16, 8, 2, 2, MlpRatio: 2, ParallelBlocks: true);

    static Tensor Ids => TestSupport.Ids(new long[,] { { 1, 4, 2, 9, 3, 3, 7 }, { 0, 5, 10, 2, 8, 6, 1 } });

    static Gpt Seed(ulong seed)
    {
        var gpt = new Gpt(Parallel, new Generator(seed));
        ScrambleAll(gpt, seed * 10, 0.3);
        gpt.Eval();
        return gpt;
    }

    [Fact]
    public void ParallelBlock_IsXPlusMixerAndFfnOfOneLayerNorm()
    {
        var block = Seed(1).Blocks[0];
        Assert.DoesNotContain(block.NamedParameters(), p => p.Name.StartsWith("ln2"));
        var x = Randn(3, 2, 5, 8);
        var n = block.Ln1.Forward(x);
        AssertClose(x + block.Attn.Forward(n) + block.Mlp.Forward(n), block.Forward(x), 1e-6);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IdenticalSeeds_GiveTheSeedModel_ForAnyRouters(bool kvShared)
    {
        var seed = Seed(2);
        var bam = Bam.Assemble([seed, seed, seed], kvShared, generator: new Generator(4));
        bam.Eval();
        foreach (var (name, p) in bam.NamedParameters().Where(p => p.Name.Contains(".router.")).ToList())
            Scramble(p, (ulong)name.Length, 2.0);
        AssertClose(seed.Forward(Ids), bam.Forward(Ids), 1e-5);
    }

    [Fact]
    public void OneExpertSharingKeysAndValues_IsOrdinaryAttention()
    {
        var attention = new MultiHeadAttention(new AttentionOptions(8, 2), new Generator(5));
        ScrambleAll(attention, 50);
        var experts = AttentionExperts.SharedKeyValue(8, 2, 1, new Generator(6));
        using (Autograd.Autograd.NoGrad())
        {
            experts.Queries[0].Weight.CopyFrom(attention.Qkv.Weight.Narrow(0, 0, 8));
            experts.Queries[0].Bias!.CopyFrom(attention.Qkv.Bias!.Narrow(0, 0, 8));
            experts.Kv.Weight.CopyFrom(attention.Qkv.Weight.Narrow(0, 8, 16));
            experts.Kv.Bias!.CopyFrom(attention.Qkv.Bias!.Narrow(0, 8, 16));
            experts.Outputs[0].Weight.CopyFrom(attention.Proj.Weight);
            experts.Outputs[0].Bias!.CopyFrom(attention.Proj.Bias!);
        }
        ScrambleAll(experts.Router, 7, 3.0);
        var x = Randn(8, 2, 6, 8);
        AssertClose(attention.Forward(x), experts.Forward(x), 1e-5);
    }

    [Fact]
    public void SoftAttentionMixture_IsTheRouterWeightedSumOfTheExperts()
    {
        var layer = AttentionExperts.Full(new AttentionOptions(8, 2), 3, new Generator(9));
        ScrambleAll(layer, 90);
        var x = Randn(10, 1, 4, 8);
        var g = layer.Router.Forward(x).Softmax(-1);
        var expected = Enumerable.Range(0, 3).Select(i => layer.FullExperts[i].Forward(x) * g.Narrow(-1, i, 1)).Aggregate((a, b) => a + b);
        AssertClose(expected, layer.Forward(x), 1e-6);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DifferentSeeds_GiveTheirOwnExperts_AndTheAverageOfEverythingElse(bool kvShared)
    {
        var seeds = new[] { Seed(11), Seed(12) };
        var bam = Bam.Assemble(seeds, kvShared, new MoeOptions(2, TopK: 1), new Generator(3));
        var state = bam.StateDict();
        var s = seeds.Select(x => x.StateDict()).ToArray();
        AssertClose(((s[0]["tok.weight"] + s[1]["tok.weight"]) / 2).ToDoubleArray(), state["tok.weight"].ToDoubleArray(), 1e-7);
        AssertClose(((s[0]["blocks.1.ln1.bias"] + s[1]["blocks.1.ln1.bias"]) / 2).ToDoubleArray(), state["blocks.1.ln1.bias"].ToDoubleArray(), 1e-7);
        Assert.Equal(s[1]["blocks.0.mlp.fc.weight"].ToDoubleArray(), state["blocks.0.moe.experts.1.fc.weight"].ToDoubleArray());
        if (kvShared)
        {
            Assert.Equal(s[1]["blocks.1.attn.proj.weight"].ToDoubleArray(), state["blocks.1.attn.o.1.weight"].ToDoubleArray());
            Assert.Equal(s[0]["blocks.1.attn.qkv.bias"].Narrow(0, 0, 8).ToDoubleArray(), state["blocks.1.attn.q.0.bias"].ToDoubleArray());
            var kv = (s[0]["blocks.0.attn.qkv.weight"].Narrow(0, 8, 16) + s[1]["blocks.0.attn.qkv.weight"].Narrow(0, 8, 16)) / 2;
            AssertClose(kv.ToDoubleArray(), state["blocks.0.attn.kv.weight"].ToDoubleArray(), 1e-7);
        }
        else Assert.Equal(s[0]["blocks.1.attn.qkv.weight"].ToDoubleArray(), state["blocks.1.attn.experts.0.qkv.weight"].ToDoubleArray());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BamModel_DecodesWithAKeyValueCache_AsOneFullForward(bool kvShared)
    {
        var bam = Bam.Assemble([Seed(11), Seed(12)], kvShared, generator: new Generator(3));
        bam.Eval();
        var full = bam.Forward(Ids);
        var cache = bam.CreateCache();
        // One token, then the rest in a chunk: the new positions attend to the cached keys and values.
        var first = bam.Forward(Ids.Narrow(1, 0, 1), cache);
        var singles = Enumerable.Range(1, 3).Select(t => bam.Forward(Ids.Narrow(1, t, 1), cache)).ToArray();
        var chunk = bam.Forward(Ids.Narrow(1, 4, 3), cache);
        AssertClose(full, Tensor.Concat([first, .. singles, chunk], 1), 1e-5);
        // The attention experts keep keys and values (one cache when shared), not a replay of the sequence.
        var state = Assert.IsType<AttentionExpertsState>(cache[0]);
        Assert.Equal(kvShared ? 1 : 2, state.Caches.Count);
        Assert.Equal(7, state.Length);
    }

    [Fact]
    public void Assemble_RefusesSequentialSeedsAndMismatchedExpertCounts()
    {
        Assert.Contains("ParallelBlocks", Assert.Throws<ArgumentException>(() => Bam.Assemble([TinyGpt()], false)).Message);
        Assert.Contains("options ask for 3", Assert.Throws<ArgumentException>(() => Bam.Assemble([Seed(1), Seed(2)], false, new MoeOptions(3))).Message);
    }
}
