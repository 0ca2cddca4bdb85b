using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

/// <summary>MMRL++'s text-only form (spec seeds-remaining.md §5) on a tiny random BERT, against the spec's oracles.</summary>
public class MmrlPlusPlusTests
{
    static Bert TinyBert() => (Bert)new Bert(new BertConfig(20, 16, 4, 2, 32, 24, Dropout: 0, AttentionDropout: 0), new Generator(1)).To(DType.Float64).Eval();

    static (Tensor Ids, Tensor Padding) Batch() => (
        Tensor.FromArray(new long[,] { { 1, 5, 7, 2, 0 }, { 1, 9, 3, 4, 2 } }),
        Tensor.FromArray(new bool[,] { { false, false, false, false, true }, { false, false, false, false, false } }));

    static MmrlPlusPlus Model(Bert bert, MmrlConfig config) => (MmrlPlusPlus)new MmrlPlusPlus(bert, config, new Generator(2)).To(DType.Float64);

    [Fact]
    public void WithoutRepresentationTokens_TheClassFeatureIsTheZeroShotEmbedding()
    {
        var bert = TinyBert();
        var (ids, padding) = Batch();
        var mmrl = Model(bert, new MmrlConfig(Tokens: 0, SharedWidth: 8, FirstLayer: 2));
        var zeroShot = Bert.MeanPool(bert.Encode(ids, null, padding, null, null), padding);
        Assert.Equal(zeroShot.ToDoubleArray(), mmrl.Encode(ids, padding, mmrl.Documents).Class.ToDoubleArray());
    }

    [Fact]
    public void WithZeroResiduals_EveryLayerReceivesTheSameProjection()
    {
        var mmrl = Model(TinyBert(), new MmrlConfig(Tokens: 3, SharedWidth: 8, FirstLayer: 1));
        var r = mmrl.NamedParameters().First(p => p.Name == "representations").Parameter;
        var first = mmrl.Documents.Project(r, 0).ToDoubleArray();
        for (int layer = 1; layer < mmrl.Documents.Layers; layer++) Assert.Equal(first, mmrl.Documents.Project(r, layer).ToDoubleArray());
        // And it is R Wᵀ + b by loops.
        var named = mmrl.Documents.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.ToDoubleArray());
        var rv = r.ToDoubleArray();
        for (int i = 0; i < 3; i++)
            for (int o = 0; o < 16; o++)
                Assert.Equal(named["bias_0"][o] + Enumerable.Range(0, 8).Sum(k => rv[i * 8 + k] * named["weight"][o * 8 + k]), first[i * 16 + o], 12);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(0.9)]
    public void BetaOne_CarriesNothingOver_BelowOneTheOutputsCarry(double beta)
    {
        var bert = TinyBert();
        var (ids, padding) = Batch();
        var mmrl = Model(bert, new MmrlConfig(Tokens: 2, SharedWidth: 8, FirstLayer: 1, Beta: beta));
        using (Autograd.Autograd.NoGrad())
            foreach (var (_, p) in mmrl.Documents.NamedParameters().Where(p => p.Name.StartsWith("up_"))) p.CopyFrom(Randn64(3, p.Shape) * 0.5);
        var features = mmrl.Encode(ids, padding, mmrl.Documents);
        var plain = Bert.MeanPool(bert.Encode(ids, null, padding, null, null), padding);
        Assert.True(features.Class.Sub(plain).Abs().Max().Item() > 1e-6, "the inserted tokens take part in attention");
        var r = mmrl.NamedParameters().First(p => p.Name == "representations").Parameter;
        Assert.Equal(3, mmrl.LastRepresentationInputs.Count);
        for (int layer = 0; layer < 3; layer++)
        {
            var projected = mmrl.Documents.Project(r, layer).Unsqueeze(0).Expand(2, 2, 16).ToDoubleArray();
            var fed = mmrl.LastRepresentationInputs[layer].ToDoubleArray();
            double difference = projected.Zip(fed, (a, b) => Math.Abs(a - b)).Max();
            if (layer == 0 || beta == 1.0) Assert.Equal(0, difference);
            else Assert.True(difference > 1e-6, $"layer {layer}: the previous layer's output is carried with weight 1 − β");
        }
    }

    [Fact]
    public void TrainableCount_IsTheSpecsFormula_AndTheEncoderIsFrozen()
    {
        var bert = TinyBert();
        var mmrl = Model(bert, new MmrlConfig(Tokens: 5, SharedWidth: 8, FirstLayer: 1, HeadRank: 3));
        int n = 5, dr = 8, dm = 16, layers = 3;
        long expected = n * dr + 2 * (dm * dr + layers * (4 * dm + 4 * dr + dm)) + 2 * dm * 3;
        Assert.Equal(expected, mmrl.ParameterCount(trainableOnly: true));
        Assert.All(bert.Parameters(), p => Assert.False(p.RequiresGrad));
    }

    [Fact]
    public void Loss_PassesGradCheck_OnItsTrainableParameters()
    {
        var bert = TinyBert();
        var (ids, padding) = Batch();
        var mmrl = Model(bert, new MmrlConfig(Tokens: 2, SharedWidth: 4, FirstLayer: 2, HeadRank: 2, Scale: 5));
        using (Autograd.Autograd.NoGrad())
            foreach (var (name, p) in mmrl.NamedParameters().Where(p => p.Name.Contains("up"))) p.CopyFrom(Randn64(7, p.Shape) * 0.1);
        var classIds = Tensor.FromArray(new long[,] { { 1, 6, 2 }, { 1, 8, 2 } });
        var classPadding = Tensor.Zeros([2, 3], DType.Bool);
        var zeroDocs = Bert.MeanPool(bert.Encode(ids, null, padding, null, null), padding);
        var zeroClasses = Bert.MeanPool(bert.Encode(classIds, null, classPadding, null, null), classPadding);
        var labels = Tensor.FromArray(new long[] { 0, 1 });
        AssertParameterGradients(mmrl, () => mmrl.Loss(mmrl.Encode(ids, padding, mmrl.Documents),
            mmrl.Encode(classIds, classPadding, mmrl.Descriptions).Class, labels, zeroDocs, zeroClasses), perTensor: 4);
    }

    [Fact]
    public void RejectsAnInsertionLayerOutsideTheEncoder() =>
        Assert.Throws<ArgumentException>(() => new MmrlPlusPlus(TinyBert(), new MmrlConfig(FirstLayer: 4)));
}
