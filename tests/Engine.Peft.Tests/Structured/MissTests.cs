using Engine.Peft.Structured;
using Engine.Peft.Tests.Lycoris;
using Xunit;
using static Engine.Peft.Tests.Structured.StructuredTestSupport;

namespace Engine.Peft.Tests.Structured;

/// <summary>
/// MiSS's shard sharing (Kang and Yin 2024): every r-wide input shard of the weight gets the same block D, so with
/// in = r the update is Dᵀ; the mini form repeats mini_r columns along the outputs; Bone's bat form is the block
/// affine map W_{a,c} (I + D_a) + D_a, which its unmerge inverts. The former name BONE finds the method.
/// </summary>
public class MissTests
{
    static MissLayer Layer(MissConfig config, int inF, int outF) => Layer<MissLayer>(l => new MissLayer(l), inF, outF, config);

    static MissLayer WithBlock(MissConfig config, int inF, int outF, ulong seed)
    {
        var layer = Layer(config, inF, outF);
        LycorisTestSupport.Set(layer.Block("a"), Random((int)layer.Block("a").Numel, seed));
        return layer;
    }

    [Fact]
    public void InputWidthR_GivesDTransposed()
    {
        var layer = WithBlock(new MissConfig { R = 5 }, 5, 7, 1);
        Assert.Equal(layer.Block("a").T.ToDoubleArray(), layer.DeltaWeight("a").ToDoubleArray());
    }

    [Theory]
    [InlineData(3, 7)]  // two full shards and a partial one of width 1
    [InlineData(4, 8)]
    public void EveryShard_SharesD_ThePartialOneItsFirstRows(int r, int inF)
    {
        const int outF = 6;
        var layer = WithBlock(new MissConfig { R = r }, inF, outF, 2);
        var d = layer.Block("a").ToDoubleArray();
        var delta = layer.DeltaWeight("a").ToDoubleArray();
        for (int o = 0; o < outF; o++)
            for (int j = 0; j < inF; j++) Assert.Equal(d[(j % r) * outF + o], delta[o * inF + j]);

        // The forward pools the zero-padded shards: base(x) + x ΔWᵀ.
        var x = Tensor.Randn([3, inF], 0, 1, DType.Float64, new Generator(4));
        var expected = (layer.BaseLayer.Forward(x) + x % layer.DeltaWeight("a").T).ToDoubleArray();
        Assert.Equal(expected, layer.Forward(x).ToDoubleArray(), (p, q) => Math.Abs(p - q) < 1e-12);
    }

    [Fact]
    public void MiniForm_RepeatsMiniRColumnsAlongTheOutputs()
    {
        var layer = WithBlock(new MissConfig { R = 3, MiniR = 2, InitWeights = MissInit.Mini }, 6, 8, 3);
        Assert.Equal([3, 2], layer.Block("a").Shape);
        var d = layer.Block("a").ToDoubleArray();
        var delta = layer.DeltaWeight("a").ToDoubleArray();
        for (int o = 0; o < 8; o++)
            for (int j = 0; j < 6; j++) Assert.Equal(d[(j % 3) * 2 + o % 2], delta[o * 6 + j]);
    }

    [Fact]
    public void BatForm_IsTheBlockAffineMap_AndItsUnmergeInvertsIt()
    {
        const int r = 3, inF = 6, outF = 9;
        var layer = Layer(new MissConfig { R = r, InitWeights = MissInit.Bat }, inF, outF);
        LycorisTestSupport.Set(layer.Block("a"), Random(outF / r * r * r, 5).Select(v => 0.2 * v).ToArray());
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var d = layer.Block("a").ToDoubleArray();
        // W'[a r + i, c r + j] = W[a r + i, c r + j] + Σ_t W[a r + i, c r + t] D[a, t, j] + D[a, i, j].
        var expected = new double[outF * inF];
        for (int row = 0; row < outF; row++)
            for (int col = 0; col < inF; col++)
            {
                int a = row / r, i = row % r, c = col / r, j = col % r;
                double sum = w[row * inF + col] + d[(a * r + i) * r + j];
                for (int t = 0; t < r; t++) sum += w[row * inF + c * r + t] * d[(a * r + t) * r + j];
                expected[row * inF + col] = sum;
            }
        var x = Tensor.Randn([2, inF], 0, 1, DType.Float64, new Generator(6));
        var forward = layer.Forward(x).ToDoubleArray();
        layer.Merge();
        Assert.Equal(expected, layer.BaseLayer.Weight.ToDoubleArray(), (p, q) => Math.Abs(p - q) < 1e-12);
        Assert.Equal(forward, layer.Forward(x).ToDoubleArray(), (p, q) => Math.Abs(p - q) < 1e-12);
        layer.Unmerge();
        Assert.Equal(w, layer.BaseLayer.Weight.ToDoubleArray(), (p, q) => Math.Abs(p - q) < 1e-12);
    }

    [Fact]
    public void Forms_CheckTheirWidths()
    {
        Assert.Throws<ArgumentException>(() => new MissLayer(new Linear(6, 8)).AddAdapter(AdapterContext.Standalone("a", new MissConfig { R = 4, InitWeights = MissInit.Bat })));
        Assert.Throws<ArgumentException>(() => new MissLayer(new Linear(6, 8)).AddAdapter(AdapterContext.Standalone("a", new MissConfig { R = 4, MiniR = 3, InitWeights = MissInit.Mini })));
    }

    [Fact]
    public void FormerPeftTypeBone_FindsMiss_AndItsKeysAreReadUnderMissNames()
    {
        var miss = PeftRegistry.FindByPeftType("BONE");
        Assert.NotNull(miss);
        Assert.Equal("MISS", miss.PeftType);
        Assert.Equal("base_model.model.lm_head.miss_block", miss.CurrentKey("base_model.model.lm_head.bone_block"));
        Assert.Equal("base_model.model.lm_head.miss_block", miss.CurrentKey("base_model.model.lm_head.miss_block"));
        // Other methods keep their keys.
        Assert.Equal("x.bone_block", PeftRegistry.ByPeftType("LORA").CurrentKey("x.bone_block"));
        var config = PeftConfig.FromJson(new System.Text.Json.Nodes.JsonObject { ["peft_type"] = "BONE", ["r"] = 4, ["init_weights"] = "bat" });
        var read = Assert.IsType<MissConfig>(config);
        Assert.Equal((4, MissInit.Bat, 1), (read.R, read.InitWeights, read.MiniR));
    }
}
