using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests;

public class LayerTyingTests
{
    static Gpt Dense(int layers, ulong seed = 3) => new(new GptConfig(VocabSize: 13, ContextLength: 8, DModel: 8, Layers: layers, Heads: 2), new Generator(seed));

    static Tensor Ids(ulong seed) => Tensor.Randint(0, 13, [2, 7], generator: new Generator(seed));

    [Theory]
    [InlineData(TyingPattern.Cycle, 6, 3, new[] { 0, 1, 0, 1, 0, 1 })]
    [InlineData(TyingPattern.Sequence, 6, 3, new[] { 0, 0, 0, 1, 1, 1 })]
    [InlineData(TyingPattern.MiddleCycle, 8, 3, new[] { 0, 1, 2, 1, 2, 1, 2, 3 })]
    [InlineData(TyingPattern.MiddleSequence, 8, 3, new[] { 0, 1, 1, 1, 2, 2, 2, 3 })]
    [InlineData(TyingPattern.Cycle, 4, 1, new[] { 0, 1, 2, 3 })]
    [InlineData(TyingPattern.Cycle, 4, 4, new[] { 0, 0, 0, 0 })]
    public void BlockOf_FollowsTheReferencePatterns(TyingPattern pattern, int layers, int recursions, int[] expected) =>
        Assert.Equal(expected, LayerTying.BlockOf(pattern, layers, recursions));

    [Theory]
    [InlineData(TyingPattern.Cycle, 5, 2)]
    [InlineData(TyingPattern.MiddleCycle, 2, 1)]
    [InlineData(TyingPattern.Sequence, 4, 0)]
    public void BlockOf_RejectsLayersThatTheRecursionsDoNotDivide(TyingPattern pattern, int layers, int recursions) =>
        Assert.Throws<ArgumentException>(() => LayerTying.BlockOf(pattern, layers, recursions));

    [Fact]
    public void SourceLayers_PickTheSpecifiedDenseLayers()
    {
        var cycle = LayerTying.BlockOf(TyingPattern.Cycle, 6, 2); // 3 unique blocks
        Assert.Equal(new[] { 0, 1, 2 }, LayerTying.SourceLayers(cycle, TiedInit.Lower));
        Assert.Equal(new[] { 3, 4, 5 }, LayerTying.SourceLayers(cycle, TiedInit.Upper));
        // round(linspace(0, 5, 3)) = 0, 2 (2.5 to even), 5
        Assert.Equal(new[] { 0, 2, 5 }, LayerTying.SourceLayers(cycle, TiedInit.Stepwise));
        Assert.Null(LayerTying.SourceLayers(cycle, TiedInit.Average));
        // Middle patterns: the untied ends keep their own layer, the tied blocks pick among the middle ones.
        var middle = LayerTying.BlockOf(TyingPattern.MiddleCycle, 6, 2); // [0, 1, 2, 1, 2, 3]
        Assert.Equal(new[] { 0, 3, 4, 5 }, LayerTying.SourceLayers(middle, TiedInit.Upper));
        var random = LayerTying.SourceLayers(cycle, TiedInit.Random, new Generator(4))!;
        Assert.Equal(3, random.Distinct().Count());
        Assert.True(random.SequenceEqual(random.Order()) && random.All(l => l is >= 0 and < 6));
    }

    [Fact]
    public void Tie_Average_SharesOneTensorHoldingTheMeanOfTheTiedLayers()
    {
        var model = Dense(4);
        var before = Enumerable.Range(0, 4).Select(l => model.Blocks[l].Attn.Qkv.Weight.ToArray<float>()).ToArray();
        LayerTying.Tie(model.Blocks, LayerTying.BlockOf(TyingPattern.Cycle, 4, 2), TiedInit.Average);
        Assert.Same(model.Blocks[0].Attn.Qkv.Weight, model.Blocks[2].Attn.Qkv.Weight);
        Assert.Same(model.Blocks[1].Mlp.Fc.Weight, model.Blocks[3].Mlp.Fc.Weight);
        Assert.NotSame(model.Blocks[0].Attn.Qkv.Weight, model.Blocks[1].Attn.Qkv.Weight);
        var mean = before[0].Zip(before[2], (a, b) => (a + b) / 2.0).ToArray();
        AssertClose(mean, model.Blocks[0].Attn.Qkv.Weight.ToArray<float>().Select(v => (double)v).ToArray(), 1e-6);
    }

    [Fact]
    public void Tie_Stepwise_CopiesThePickedLayersValues()
    {
        var model = Dense(4);
        var layer3 = model.Blocks[3].Mlp.Proj.Weight.ToArray<float>();
        // Sequence with 2 recursions: blocks {0,1} and {2,3}; stepwise picks layers 0 and 3.
        LayerTying.Tie(model.Blocks, LayerTying.BlockOf(TyingPattern.Sequence, 4, 2), TiedInit.Stepwise);
        Assert.Equal(layer3, model.Blocks[2].Mlp.Proj.Weight.ToArray<float>());
        Assert.Same(model.Blocks[2].Mlp.Proj.Weight, model.Blocks[3].Mlp.Proj.Weight);
    }

    [Fact]
    public void Tie_WithoutNorms_KeepsEachDepthsLayerNormsPrivate()
    {
        var model = Dense(3);
        LayerTying.Tie(model.Blocks, [0, 0, 0], TiedInit.Lower, tieNorms: false);
        Assert.Same(model.Blocks[0].Attn.Proj.Weight, model.Blocks[2].Attn.Proj.Weight);
        Assert.NotSame(model.Blocks[0].Ln1.Weight, model.Blocks[1].Ln1.Weight);
        Assert.NotSame(model.Blocks[0].Ln2.Bias, model.Blocks[2].Ln2.Bias);
    }

    [Fact]
    public void TiedGradient_IsTheSumOfTheUntiedCopiesGradients()
    {
        // Spec 1.1 oracle: GradTied == Σ_l GradUntied_l for blocks holding the same values.
        var tied = Dense(4, seed: 8);
        var map = LayerTying.BlockOf(TyingPattern.Cycle, 4, 2);
        LayerTying.Tie(tied.Blocks, map, TiedInit.Average);
        var untied = Dense(4, seed: 99);
        untied.LoadStateDict(tied.StateDict());
        Assert.Empty(untied.TensorAliases());

        var ids = Ids(5);
        var targets = Ids(6);
        foreach (var m in new[] { tied, untied })
        {
            m.ZeroGrad();
            Autograd.Autograd.Backward(Losses.CrossEntropy(m.Forward(ids), targets));
        }
        foreach (var path in new[] { "attn.qkv.weight", "mlp.fc.bias", "ln2.weight" })
            for (int block = 0; block < 2; block++)
            {
                var sum = Param(untied, block, path).Grad!.ToArray<float>().Zip(Param(untied, block + 2, path).Grad!.ToArray<float>(), (a, b) => (double)a + b).ToArray();
                AssertClose(sum, Param(tied, block, path).Grad!.ToArray<float>().Select(v => (double)v).ToArray(), 1e-5, path);
            }

        static Tensor Param(Gpt m, int layer, string path) => m.NamedParameters().Single(p => p.Name == $"blocks.{layer}.{path}").Parameter;
    }

    [Fact]
    public void Parameters_CountATiedTensorOnce()
    {
        var model = Dense(4);
        long dense = model.ParameterCount();
        long perBlock = model.Blocks[0].ParameterCount();
        LayerTying.Tie(model.Blocks, LayerTying.BlockOf(TyingPattern.Cycle, 4, 4), TiedInit.Average);
        Assert.Equal(dense - 3 * perBlock, model.ParameterCount());
        Assert.Equal(3 * model.Blocks[0].NamedParameters().Count(), model.TensorAliases().Count);
        Assert.All(model.TensorAliases(), a => Assert.StartsWith("blocks.0.", a.Value));
    }

    [Fact]
    public void TrainingCheckpoint_StoresTiedTensorsOnce_AndRestoresTheTies()
    {
        var model = Dense(4);
        LayerTying.Tie(model.Blocks, LayerTying.BlockOf(TyingPattern.Cycle, 4, 2), TiedInit.Average);
        string path = Path.Combine(Path.GetTempPath(), $"engine-tied-{Guid.NewGuid():N}.safetensors");
        try
        {
            TrainingCheckpoint.Save(path, model, null, 1);
            using (var file = Safetensors.Open(path))
            {
                Assert.Equal(model.StateDict().Count - model.TensorAliases().Count, file.Names.Count);
                Assert.DoesNotContain("model.blocks.2.attn.qkv.weight", file.Names);
                Assert.True(file.Metadata.ContainsKey(TrainingCheckpoint.TiedKey));
            }
            var restored = Dense(4, seed: 42);
            LayerTying.Tie(restored.Blocks, LayerTying.BlockOf(TyingPattern.Cycle, 4, 2), TiedInit.Lower);
            TrainingCheckpoint.Restore(path, restored);
            Assert.Same(restored.Blocks[0].Attn.Qkv.Weight, restored.Blocks[2].Attn.Qkv.Weight);
            var ids = Ids(2);
            AssertClose(model.Eval().Forward(ids), restored.Eval().Forward(ids), 0, "restored logits");
            // The aliases come back from the metadata: an untied model of the same shape loads the file too.
            var untied = Dense(4, seed: 43);
            TrainingCheckpoint.Restore(path, untied);
            AssertClose(model.Forward(ids), untied.Eval().Forward(ids), 0, "untied logits");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void TieParameter_RejectsAnotherShapeOrAMissingName()
    {
        var model = Dense(2);
        Assert.Throws<ArgumentException>(() => model.TieParameter("blocks.1.attn.qkv.weight", model.Blocks[0].Attn.Proj.Weight));
        Assert.Throws<KeyNotFoundException>(() => model.TieParameter("blocks.1.attn.nothing", model.Blocks[0].Attn.Proj.Weight));
        Assert.Throws<ArgumentException>(() => LayerTying.Tie(model.Blocks, [0, 0, 0], TiedInit.Average));
    }
}
