using Engine.Nn.Merging;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Merging;

/// <summary>Laws every paper merge (PCB, WIDEN, VaRM, SCE) keeps, whatever its formula.</summary>
public class PaperMergeLawTests
{
    public static TheoryData<string> Methods => new() { "pcb", "widen", "varm", "sce" };

    static IStateDictMerge Create(string name) => name switch
    {
        "pcb" => new PcbMerge(),
        "widen" => new WidenMerge(),
        "varm" => new VarmMerge(),
        "sce" => new SceMerge(),
        _ => throw new ArgumentException(name),
    };

    static Dictionary<string, Tensor> Model(ulong seed) => new()
    {
        ["head.weight"] = Randn(seed, 4, 3),
        ["tok.weight"] = Randn(seed + 1, 5, 3),
        ["ln_f.weight"] = Randn(seed + 2, 3),
        ["step"] = Tensor.FromArray(new long[] { 7 }),
    };

    [Theory]
    [MemberData(nameof(Methods))]
    public void ModelsEqualToTheBase_GiveTheBase(string method)
    {
        var b = Model(1);
        var merged = Create(method).Merge(b, [Model(1), Model(1)]);
        Assert.Equal(b.Keys, merged.Keys);
        foreach (var (name, t) in b) Assert.Equal(t.ToDoubleArray(), merged[name].ToDoubleArray());
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Merge_KeepsNamesShapesDtypes_CopiesIntegerTensors_AndLeavesInputsAlone(string method)
    {
        var b = Model(1);
        var models = new[] { Model(10), Model(20) };
        models[1]["step"] = Tensor.FromArray(new long[] { 99 });
        var before = models.Select(m => m.ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray())).ToList();

        var merged = Create(method).Merge(b, models);

        foreach (var (name, t) in b)
        {
            Assert.Equal(t.Shape, merged[name].Shape);
            Assert.Equal(t.DType, merged[name].DType);
            Assert.False(ReferenceEquals(t, merged[name]), "the result holds new tensors");
        }
        Assert.Equal([7L], merged["step"].ToArray<long>());
        Assert.NotEqual(b["head.weight"].ToDoubleArray(), merged["head.weight"].ToDoubleArray());
        for (int i = 0; i < models.Length; i++)
            foreach (var (name, v) in before[i]) Assert.Equal(v, models[i][name].ToDoubleArray());
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void MismatchedModels_AreRefusedByName(string method)
    {
        var b = Model(1);
        var missing = Model(2);
        missing.Remove("ln_f.weight");
        var e = Assert.Throws<ArgumentException>(() => Create(method).Merge(b, [Model(3), missing]));
        Assert.StartsWith($"{method}: model 1", e.Message);
        Assert.Contains("ln_f.weight", e.Message);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void GptStateDicts_MergeIntoAModelThatLoadsAndRuns(string method)
    {
        var gpt = TinyGpt(layers: 2, tied: false);
        var b = gpt.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Detach().Clone());
        var models = new[] { 5UL, 6UL }.Select(s => (IReadOnlyDictionary<string, Tensor>)b.ToDictionary(
            kv => kv.Key, kv => kv.Value.DType.IsFloating() ? kv.Value + Randn(s * 100 + (ulong)kv.Key.Length, kv.Value.Shape) * 0.02 : kv.Value)).ToList();
        Assert.Contains("tok.weight", b.Keys);

        var merged = Create(method).Merge(b, models);

        var loaded = TinyGpt(layers: 2, tied: false, seed: 99);
        loaded.LoadStateDict(merged);
        loaded.Eval();
        var logits = loaded.Forward(Ids(new long[,] { { 1, 2, 3, 4 } }), null);
        Assert.All(logits.ToDoubleArray(), v => Assert.True(double.IsFinite(v)));
        Assert.Equal(merged["tok.weight"].ToDoubleArray(), loaded.Tok.Weight.ToDoubleArray());
    }
}
