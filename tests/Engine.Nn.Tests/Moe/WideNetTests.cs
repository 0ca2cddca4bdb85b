using Engine.Nn.Checkpoints;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Moe;

/// <summary>The oracles of spec structure-and-optimizers.md 1.3 for <see cref="WideNet"/>.</summary>
public class WideNetTests
{
    const int V = 11, Ctx = 16, D = 8, L = 4, E = 3, Ratio = 2;

    static Gpt Make(ulong seed = 1) => WideNet.Create(new GptConfig(V, Ctx, D, L, 2, MlpRatio: Ratio), E, new Generator(seed));

    static Tensor Ids => TestSupport.Ids(new long[,] { { 1, 4, 2, 9, 3, 3, 7 }, { 0, 5, 10, 2, 8, 6, 1 } });

    [Fact]
    public void ParameterCount_IsOneSharedBlockPlusTwoLayerNormsPerLayerPlusTheRest()
    {
        int h = Ratio * D;
        long attention = 3 * D * D + 3 * D + D * D + D;
        long moe = E * D + E * (D * h + h + h * D + D);
        long rest = V * D + Ctx * D + 2 * D; // tied head, learned positions, ln_f
        Assert.Equal(attention + moe + L * (2 * 2 * D) + rest, Make().ParameterCount());
    }

    [Fact]
    public void Layers_ShareAttentionAndExpertTensors_ButNotTheirLayerNorms()
    {
        var blocks = Make().Blocks;
        for (int l = 1; l < L; l++)
        {
            Assert.Same(blocks[0].Attn.Qkv.Weight, blocks[l].Attn.Qkv.Weight);
            Assert.Same(blocks[0].Moe!.Router.Weight, blocks[l].Moe!.Router.Weight);
            Assert.Same(blocks[0].Moe!.Experts[2].Proj.Weight, blocks[l].Moe!.Experts[2].Proj.Weight);
            Assert.NotSame(blocks[0].Ln1.Weight, blocks[l].Ln1.Weight);
            Assert.NotSame(blocks[0].Ln2.Bias, blocks[l].Ln2.Bias);
        }
    }

    [Fact]
    public void SwappingTwoLayersLayerNorms_ChangesTheOutput()
    {
        var model = Make();
        model.Eval();
        for (int l = 0; l < L; l++)
        {
            ScrambleAll(model.Blocks[l].Ln1, (ulong)(10 * l + 1), 1.0);
            ScrambleAll(model.Blocks[l].Ln2, (ulong)(10 * l + 5), 1.0);
        }
        var before = model.Forward(Ids).ToDoubleArray();
        var (a, c) = (model.Blocks[0], model.Blocks[2]);
        var (w0, w2) = (a.Ln1.Weight.Detach().Clone(), c.Ln1.Weight.Detach().Clone());
        using (Autograd.Autograd.NoGrad()) { a.Ln1.Weight.CopyFrom(w2); c.Ln1.Weight.CopyFrom(w0); }
        var after = model.Forward(Ids).ToDoubleArray();
        // GPT-2 init keeps the blocks small next to the embeddings, so the change is small but far above rounding.
        double change = before.Zip(after).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(change > 1e-5, $"per-layer norms must matter; the output moved by {change}");
        // Swapping back restores the output exactly: only the norms moved.
        using (Autograd.Autograd.NoGrad()) { a.Ln1.Weight.CopyFrom(w0); c.Ln1.Weight.CopyFrom(w2); }
        Assert.Equal(before, model.Forward(Ids).ToDoubleArray());
    }

    [Fact]
    public void TrainingCheckpoint_StoresTheSharedWeightsOnce_AndRestoresTheModel()
    {
        var model = Make(seed: 2);
        model.Eval();
        var aliases = model.TensorAliases();
        Assert.Equal("blocks.0.moe.router.weight", aliases["blocks.3.moe.router.weight"]);
        Assert.DoesNotContain("blocks.1.ln1.weight", aliases.Keys);
        var path = Path.Combine(Path.GetTempPath(), $"widenet-{Guid.NewGuid():N}.safetensors");
        try
        {
            TrainingCheckpoint.Save(path, model, null, 3);
            using (var file = Safetensors.Open(path))
            {
                Assert.Single(file.Names, n => n.EndsWith("attn.qkv.weight"));
                Assert.Single(file.Names, n => n.EndsWith("experts.1.fc.weight"));
                Assert.Equal(L, file.Names.Count(n => n.EndsWith("ln2.bias")));
            }
            var fresh = Make(seed: 9);
            fresh.Eval();
            TrainingCheckpoint.Restore(path, fresh);
            Assert.Same(fresh.Blocks[0].Attn.Qkv.Weight, fresh.Blocks[3].Attn.Qkv.Weight);
            Assert.Equal(model.Forward(Ids).ToDoubleArray(), fresh.Forward(Ids).ToDoubleArray());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void BalanceLoss_IsSummedOverTheLayersUses_AndRouterUsesWideNetsSettings()
    {
        var model = Make();
        using var aux = AuxiliaryLosses.Collect();
        model.Forward(Ids);
        double sum = model.Blocks.Items.Sum(b =>
        {
            var d = b.Moe!.LastDecision!;
            var f = d.SlotFractions();
            var p = d.MeanProbabilities();
            return 0.01 * E * f.Select((v, i) => v * p[i % E]).Sum();
        });
        AssertClose(sum, aux.Losses["moe_balance"].Item(), 1e-6);
        var options = model.Blocks[0].Moe!.Options;
        Assert.Equal((2, 1.25, 2.0), (options.TopK, options.CapacityFactor!.Value, options.EvalCapacityFactor!.Value));
        Assert.True(options.RouterNoise > 0);
        Assert.Equal((int)Math.Ceiling(1.25 * 14 * 2 / E), model.Blocks[1].Moe!.LastDecision!.Capacity);
    }
}
