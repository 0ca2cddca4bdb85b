using Engine.Nn.Checkpoints;
using Engine.Nn.Compression;
using Xunit;

namespace Engine.Nn.Tests.Compression;

/// <summary>
/// LowRankLinear computes x (A B)ᵀ + b (checked against the naive linear of the product), and a GPT factorised by
/// <see cref="LowRankGpt"/> saves and loads into a model rebuilt from the stored rank map, with the same outputs.
/// </summary>
public class LowRankLinearTests
{
    [Fact]
    public void Forward_IsTheLinearOfTheProduct()
    {
        var a = TestSupport.Randn(1, 5, 2);
        var b = TestSupport.Randn(2, 2, 4);
        var bias = TestSupport.Randn(3, 5);
        var x = TestSupport.Randn(4, 3, 4);
        var layer = LowRankLinear.FromFactors(a, b, bias);
        var w = a.MatMul(b).ToDoubleArray();
        var expected = TestSupport.NaiveLinear(x.ToDoubleArray(), 3, w, bias.ToDoubleArray(), 4, 5);
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-5);
        Assert.Equal(2 * (5 + 4) + 5, layer.ParameterCount());
    }

    [Fact]
    public void FromFactors_MismatchedShapes_IsNamedError() =>
        Assert.Contains("LowRankLinear.FromFactors", Assert.Throws<ArgumentException>(() => LowRankLinear.FromFactors(Tensor.Zeros(5, 2), Tensor.Zeros(3, 4), null)).Message);

    [Fact]
    public void FactorisedGpt_SavesAndRebuildsFromTheRankMap()
    {
        var config = new GptConfig(11, 8, 16, 2, 2);
        var model = (Gpt)new Gpt(config, new Generator(1)).Eval();
        var ranks = LowRankGpt.Factorise(model, e => FisherWeightedSvd.Factorise(e.Linear.Weight, null, e.Kind == "o" ? 3 : 5));
        Assert.Equal(8, ranks.Count);
        Assert.Equal(3, ranks["1.o"]);
        var path = Path.Combine(Directory.CreateTempSubdirectory("lowrank-gpt-").FullName, "m.safetensors");
        TrainingCheckpoint.Save(path, model, null, 0, values: new Dictionary<string, string> { [LowRankGpt.MetadataKey] = LowRankGpt.Serialize(ranks) });

        var loaded = (Gpt)new Gpt(config, new Generator(9)).Eval();
        LowRankGpt.Rebuild(loaded, TrainingCheckpoint.ReadInfo(path).Values[LowRankGpt.MetadataKey]);
        TrainingCheckpoint.Restore(path, loaded);
        var ids = Tensor.FromArray(new long[] { 1, 4, 2, 9, 3 }, [1, 5]);
        AssertClose(model.Forward(ids), loaded.Forward(ids), 0);
        Assert.Equal(model.ParameterCount(), loaded.ParameterCount());
    }

    [Fact]
    public void Rebuild_UnknownLayer_IsNamedError()
    {
        var model = new Gpt(new GptConfig(11, 8, 16, 1, 2), new Generator(1));
        Assert.Contains("names '3.qkv'", Assert.Throws<InvalidDataException>(() => LowRankGpt.Rebuild(model, "{\"3.qkv\": 2}")).Message);
    }
}
