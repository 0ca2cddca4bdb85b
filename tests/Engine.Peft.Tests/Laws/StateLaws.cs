using Engine.Nn.Checkpoints;
using Xunit;
using static Engine.Peft.Tests.Laws.LawCases;

namespace Engine.Peft.Tests.Laws;

/// <summary>
/// Laws of the adapted model's state that every registered method obeys (rows: <see cref="LawCases"/>): files round
/// trip and use PEFT's keys, training never touches the base, deleting gives the base back bit for bit, and a failed
/// load changes nothing.
/// </summary>
public class StateLaws
{
    [Theory]
    [MemberData(nameof(Every), MemberType = typeof(LawCases))]
    public void SaveThenLoadOnAFreshBase_GivesIdenticalOutputs(string name)
    {
        var c = Get(name);
        var peft = NonTrivial(c);
        var folder = TempFolder();
        peft.SavePretrained(folder);
        // CorDA's and LoRA-GA's files load with the data they were initialised with (ICalibratedConfig.LoadNeed).
        var fresh = Base();
        var loaded = Peft.FromPretrained(fresh, folder, calibration: Calibration(c, fresh));
        Assert.Equal(c.PeftType, loaded.PeftConfigs["default"].PeftType);
        Assert.Equal(Outputs(peft), Outputs(loaded));
    }

    [Theory]
    [MemberData(nameof(Every), MemberType = typeof(LawCases))]
    public void PlanAdapter_ListsExactlyTheTensorsAddAdapterCreates_WithoutChangingTheModel(string name)
    {
        var c = Get(name);
        // Onto a bare model, and beside an adapter of the same method (targets already wrapped).
        foreach (var peft in new[] { new PeftModel<Gpt>(Base()), NonTrivial(c, adapterName: "first") })
        {
            var state = Bits(peft);
            var config = c.NonTrivial();
            var calibration = Calibration(c, peft.Model);
            var plan = peft.PlanAdapter("second", config, fromFile: false, calibration: calibration);
            AssertBitIdentical(state, Bits(peft), $"{name}: state after planning");
            peft.AddAdapter("second", config, calibration);
            var built = peft.NamedAdapterTensors("second").ToDictionary(t => t.Key, t => t.Tensor.Shape);
            Assert.Equal(built.Keys.Order(StringComparer.Ordinal), plan.Select(t => t.Key).Order(StringComparer.Ordinal));
            foreach (var t in plan) Assert.True(built[t.Key].SequenceEqual(t.Shape), $"{name}: {t.Key} planned {string.Join(",", t.Shape)}, built {string.Join(",", built[t.Key])}");
        }
    }

    [Theory]
    [MemberData(nameof(InPeft), MemberType = typeof(LawCases))]
    public void SavedKeys_ArePeftKeysWithoutTheAdapterName(string name)
    {
        var c = Get(name);
        const string adapter = "myadapter";
        var peft = NonTrivial(c, adapterName: adapter);
        var folder = TempFolder();
        peft.SavePretrained(folder);
        // Adapters other than "default" are written to folder/<name>, as PEFT does.
        var file = Path.Combine(folder, adapter, AdapterFiles.WeightsFileName);
        Assert.True(File.Exists(file), $"{name}: no {file}");
        var declared = peft.NamedAdapterTensors(adapter).Select(t => t.Key).ToHashSet(StringComparer.Ordinal);
        var keys = Safetensors.Load(file).Keys.ToList();
        Assert.NotEmpty(keys);
        foreach (var key in keys)
        {
            Assert.True(key.StartsWith(AdapterFiles.KeyPrefix, StringComparison.Ordinal) || declared.Contains(key),
                $"{name}: key '{key}' neither starts with '{AdapterFiles.KeyPrefix}' nor is a declared shared key");
            Assert.DoesNotContain(adapter, key);
        }
    }

    [Theory]
    [MemberData(nameof(Every), MemberType = typeof(LawCases))]
    public void TrainingWithAdamW_ChangesTheAdapterAndLeavesTheBaseBitIdentical(string name)
    {
        var c = Get(name);
        var model = Base();
        var baseTensors = model.StateDict();
        var peft = NonTrivial(c, model);
        Assert.All(baseTensors, kv => Assert.False(kv.Value.RequiresGrad, $"{name}: base parameter '{kv.Key}' trains"));
        // After the adapter is added: PiSSA and OLoRA keep the residual in the base, which must not move either.
        var baseBefore = Bits(baseTensors);
        var trainable = peft.NamedParameters().Where(p => p.Parameter.RequiresGrad).ToList();
        var trainableBefore = trainable.Select(p => p.Parameter.ToDoubleArray()).ToList();

        var ids = Ids();
        var (input, target) = (ids.Narrow(1, 0, 4), ids.Narrow(1, 1, 4));
        new Trainer(peft, new AdamW(peft.TrainableParameters(), 1e-2), new TrainerOptions(3))
            .Run(_ => Losses.CrossEntropy(peft.Forward(input), target));

        AssertBitIdentical(baseBefore, Bits(baseTensors), $"{name}: base after training");
        for (int i = 0; i < trainable.Count; i++)
            Assert.False(trainableBefore[i].SequenceEqual(trainable[i].Parameter.ToDoubleArray()), $"{name}: adapter tensor '{trainable[i].Name}' did not change");
    }

    [Theory]
    [MemberData(nameof(Every), MemberType = typeof(LawCases))]
    public void DeleteAdapter_RestoresTheBaseStateDictExactly(string name)
    {
        var c = Get(name);
        var model = Base();
        var before = Bits(model);
        var peft = NonTrivial(c, model);
        peft.DeleteAdapter("default");
        AssertBitIdentical(before, Bits(peft.Model), $"{name}: base after delete");
        Assert.Empty(peft.AdapterLayers());
        Assert.Empty(peft.ModelParts.Keys);
        Assert.All(peft.StateDict().Keys, k => Assert.StartsWith("base_model.", k));
        Assert.Equal(Outputs(Base()), Outputs(peft));
    }

    public static TheoryData<string, string> CasesAndCorruptions()
    {
        var data = new TheoryData<string, string>();
        foreach (var c in All)
            foreach (var corruption in new[] { "missing key", "wrong shape" })
                data.Add(c.Name, corruption);
        return data;
    }

    [Theory]
    [MemberData(nameof(CasesAndCorruptions))]
    public void FailedLoad_ThrowsAndLeavesTheModelUnchanged(string name, string corruption)
    {
        var c = Get(name);
        var folder = TempFolder();
        var saved = NonTrivial(c);
        saved.SavePretrained(folder);
        var file = Path.Combine(folder, AdapterFiles.WeightsFileName);
        var tensors = Safetensors.Load(file);
        // A tensor PEFT may leave out (rebuilt from the config) loads when missing: another key is removed instead.
        var optional = saved.PlanAdapter("probe", saved.PeftConfigs["default"]).Where(t => t.RecomputedIfMissing).Select(t => t.Key).ToHashSet();
        var key = tensors.Keys.Order(StringComparer.Ordinal).First(k => corruption != "missing key" || !optional.Contains(k));
        if (corruption == "missing key") tensors.Remove(key);
        else
        {
            var shape = tensors[key].Shape;
            shape[0] += 1;
            tensors[key] = Tensor.Zeros(shape, tensors[key].DType);
        }
        Safetensors.Save(file, tensors, new Dictionary<string, string> { ["format"] = "pt" });

        // Onto a model without adapters, and onto one that already holds an adapter of the same method.
        foreach (var target in new[] { new PeftModel<Gpt>(Base()), NonTrivial(c, adapterName: "first", seed: 23) })
        {
            var names = target.AdapterNames.ToList();
            var state = Bits(target);
            var trains = target.NamedParameters().Where(p => p.Parameter.RequiresGrad).Select(p => p.Name).ToList();
            var output = Outputs(target);
            var e = Assert.Throws<InvalidDataException>(() => target.LoadAdapter(folder, "second", trainable: true, Calibration(c, target.Model)));
            Assert.Contains(key, e.Message);
            Assert.Equal(names, target.AdapterNames);
            AssertBitIdentical(state, Bits(target), $"{name} ({corruption}): state after a failed load");
            Assert.Equal(trains, target.NamedParameters().Where(p => p.Parameter.RequiresGrad).Select(p => p.Name).ToList());
            Assert.Equal(output, Outputs(target));
        }
    }
}
