using Engine.Cli.Plots;
using Engine.Nn;
using Engine.Peft;
using Engine.Peft.LowRank;
using Xunit;

namespace Engine.Cli.Tests.Plots;

/// <summary>The rank map: AdaLoRA's final ranks as a layer x module grid, drawn as a labelled heat map.</summary>
public sealed class RankMapTests
{
    [Theory]
    [InlineData("transformer.h.0.attn.c_attn", "transformer.h.0", "attn.c_attn")]
    [InlineData("encoder.layer.11.attention.self.query", "encoder.layer.11", "attention.self.query")]
    [InlineData("head", "model", "head")]
    public void Split_CutsAPathAfterItsLayerNumber(string path, string layer, string module) =>
        Assert.Equal((layer, module), RankMap.Split(path));

    [Fact]
    public void Of_ReadsEachModulesKeptTripletsFromTheRankPattern()
    {
        var gpt = new Gpt(new GptConfig(13, 16, 8, 2, 2, MlpRatio: 2), new Generator(1));
        var config = new AdaLoraConfig { InitR = 4, TargetR = 2, Tinit = 2, Tfinal = 3, TotalStep = 10, TargetModules = ["qkv", "fc"] };
        var peft = Engine.Peft.Peft.Apply(gpt, config);
        // Before any masking every module keeps its initial rank.
        Assert.Equal(new int?[,] { { 4, 4 }, { 4, 4 } }, RankMap.Of(peft)!.Ranks);

        peft.UpdateConfig("default", config with
        {
            RankPattern = new Dictionary<string, bool[]>
            {
                ["transformer.h.0.attn.c_attn.lora_E"] = [true, false, true, true],
                ["transformer.h.1.mlp.c_fc.lora_E"] = [false, false, true, false],
            },
        });
        var map = RankMap.Of(peft)!;
        Assert.Equal(["transformer.h.0", "transformer.h.1"], map.Layers);
        Assert.Equal(["attn.c_attn", "mlp.c_fc"], map.Modules);
        Assert.Equal(new int?[,] { { 3, 4 }, { 4, 1 } }, map.Ranks);
        Assert.Equal(12, map.TotalRank);
    }

    [Fact]
    public void Of_IsNullForAMethodOfFixedRank()
    {
        var gpt = new Gpt(new GptConfig(13, 16, 8, 1, 2, MlpRatio: 2), new Generator(1));
        Assert.Null(RankMap.Of(Engine.Peft.Peft.Apply(gpt, new LoraConfig { R = 2, TargetModules = ["qkv"] })));
        Assert.Null(RankMap.Of(gpt));
    }

    [Fact]
    public void Write_LabelsEveryAdaptedCellWithItsRank()
    {
        var map = RankMap.FromCells("AdaLoRA",
            [("h.0", "qkv", 3), ("h.0", "proj", 7), ("h.0", "fc", 12), ("h.1", "qkv", 0), ("h.1", "proj", 5)], initialRank: 12, targetRank: 6);
        var path = Path.Combine(CliRun.TempFolder(), "ranks.svg");
        RankMapPlot.Write(map, path);

        var svg = new SvgReader(path);
        // Five adapted cells, labelled by rank; h.1 x fc is not adapted and carries no label.
        Assert.Equal(["0", "12", "3", "5", "7"], svg.CellLabels().Order(StringComparer.Ordinal));
        foreach (var name in new[] { "h.0", "h.1", "qkv", "proj", "fc" }) Assert.Contains(name, svg.Texts());
        Assert.Contains(svg.Texts(), t => t.Contains("27 of 60 rank-1 triplets kept"));
    }

    [Fact]
    public void FromCells_RefusesACellGivenTwice()
    {
        var e = Assert.Throws<ArgumentException>(() => RankMap.FromCells("AdaLoRA", [("h.0", "qkv", 3), ("h.0", "qkv", 4)], 4, 2));
        Assert.Contains("h.0 x qkv", e.Message);
    }
}
