using Engine.Peft.LowRank;
using Engine.Peft.Tests.Laws;
using Xunit;
using static Engine.Peft.Tests.TestSupport;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// B4M's PLP LoRA (<see cref="PlpLoraLayer"/>) and its training (<see cref="BreakForMake"/>; spec seeds-remaining.md §2):
/// the initialisation (Gaussian A of std 1/r, zero B; the orthogonal frozen halves), the forward against loops, gradients
/// against central differences, frozen halves bit-identical through every stage, the make identity, the clean and
/// as-released break loops, save and load.
/// </summary>
public class PlpLoraTests
{
    static PlpLoraLayer Layer(int inF, int outF, PlpLoraConfig config, params string[] names) =>
        StandaloneLayer(l => new PlpLoraLayer(l), inF, outF, config, names: names);

    static readonly ModuleSelector Targets = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"];

    static PeftModel<Gpt> Model(PlpLoraConfig? config = null, string name = "default") =>
        PeftApi.Apply(LawCases.Base(), config ?? new PlpLoraConfig { R = 3, TargetModules = Targets, Seed = 5 }, name);

    static Tensor Loss(PeftModel<Gpt> peft)
    {
        var ids = LawCases.Ids();
        var logits = peft.Forward(ids.Narrow(1, 0, 4));
        return Losses.CrossEntropy(logits, ids.Narrow(1, 1, 4));
    }

    [Fact]
    public void Init_WithoutOrth_IsGaussianAOfStdOneOverR_AndZeroB()
    {
        // in ≠ out: the orthogonal form does not apply, whatever orth says.
        var layer = Layer(400, 6, new PlpLoraConfig { R = 4, Seed = 2 });
        var a = layer.LoraA("a").ToDoubleArray();
        double mean = a.Average(), std = Math.Sqrt(a.Sum(v => (v - mean) * (v - mean)) / a.Length);
        Assert.InRange(std, 0.25 * 0.93, 0.25 * 1.07);
        Assert.InRange(mean, -0.02, 0.02);
        Assert.All(layer.LoraB("a").ToDoubleArray(), v => Assert.Equal(0.0, v));
        Assert.All(layer.DeltaWeight("a").ToDoubleArray(), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void OrthInit_FrozenHalvesAreDisjointRowsOfOneOrthonormalBasis_SoTheAdapterDoesNotStartAtTheBase()
    {
        const int d = 10, r = 3, h = d / 2;
        var layer = Layer(d, d, new PlpLoraConfig { R = r, Seed = 2 });
        // With n = in, I1 ∪ I2 is every row of Q [n, r]: M = [A_fᵀ; B_f] is Q with its rows permuted, so MᵀM = I_r.
        var stacked = Tensor.Concat([layer.FrozenA("a").T, layer.FrozenB("a")], 0);
        // (The layer draws in Float64 and stores the base's Float32 before the test widens it: Float32 rounding.)
        AssertClose(Tensor.Eye(r, dtype: DType.Float64).ToDoubleArray(), (stacked.T % stacked).ToDoubleArray(), 1e-6);
        // Each frozen half alone is a part of Q: rows of norm at most 1, not orthonormal.
        Assert.All(Enumerable.Range(0, h), i => Assert.InRange(layer.FrozenB("a").Narrow(0, i, 1).Square().Sum().Item(), 0, 1 + 1e-6));
        // The trained halves start as without orth: B_t = 0, A_t Gaussian.
        Assert.All(layer.TrainedB("a").ToDoubleArray(), v => Assert.Equal(0.0, v));
        Assert.Contains(layer.TrainedA("a").ToDoubleArray(), v => v != 0);
        // ΔW = B_f A ≠ 0 at initialisation (the released code's behaviour), only in the first out/2 rows.
        var delta = layer.DeltaWeight("a");
        Assert.True(delta.Narrow(0, 0, h).Abs().Max().Item() > 1e-3);
        Assert.All(delta.Narrow(0, h, d - h).ToDoubleArray(), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void OrthAllModules_InitialisesRectangularModulesFromOneBasis_WhileTheReferenceRuleLeavesThemGaussian()
    {
        const int inF = 6, outF = 10, r = 3;
        var reference = Layer(inF, outF, new PlpLoraConfig { R = r, Seed = 2 });
        Assert.All(reference.FrozenB("a").ToDoubleArray(), v => Assert.Equal(0.0, v));
        var layer = Layer(inF, outF, new PlpLoraConfig { R = r, OrthAllModules = true, Seed = 2 });
        // n = in/2 + out/2 = 8 rows: I1 (3 rows) and I2 (5 rows) are all of Q.
        var stacked = Tensor.Concat([layer.FrozenA("a").T, layer.FrozenB("a")], 0);
        AssertClose(Tensor.Eye(r, dtype: DType.Float64).ToDoubleArray(), (stacked.T % stacked).ToDoubleArray(), 1e-6);
        Assert.All(layer.TrainedB("a").ToDoubleArray(), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void OrthInit_WithTheReferenceBasisSize_TakesDisjointRowsOfALargerBasis()
    {
        const int d = 8, r = 2;
        var layer = Layer(d, d, new PlpLoraConfig { R = r, OrthBasisSize = 40, Seed = 2 });
        // Distinct rows of an orthonormal-column Q: the stacked rows have Gram ⪯ I (here strictly inside), and no row repeats.
        var stacked = Tensor.Concat([layer.FrozenA("a").T, layer.FrozenB("a")], 0);
        var eigen = Linalg.Svd(stacked).S.ToDoubleArray();
        Assert.All(eigen, s => Assert.InRange(s, 0, 1 + 1e-6));
        var rows = Enumerable.Range(0, d).Select(i => string.Join(",", stacked.Narrow(0, i, 1).ToDoubleArray())).ToList();
        Assert.Equal(d, rows.Distinct().Count());
    }

    [Fact]
    public void Forward_AddsScaledBATimesTheInput_AsLoops()
    {
        const int inF = 5, outF = 4, r = 2;
        var layer = Layer(inF, outF, new PlpLoraConfig { R = r, LoraAlpha = 3, Seed = 2 });
        Scramble(layer.TrainedB("a"), 8);
        var x = Randn64(9, 3, inF);
        var expected = NaiveMatMulT(x.ToDoubleArray(), 3, layer.BaseLayer.Weight.ToDoubleArray(), inF, outF);
        var delta = NaiveProduct(layer.LoraB("a").ToDoubleArray(), layer.LoraA("a").ToDoubleArray(), outF, r, inF);
        var update = NaiveMatMulT(x.ToDoubleArray(), 3, delta, inF, outF);
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var y = expected.Select((v, i) => v + bias[i % outF] + 1.5 * update[i]).ToArray();
        AssertClose(y, layer.Forward(x).ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void Gradients_OfTheTrainedHalves_MatchCentralDifferences_AndTheFrozenHalvesHaveNone()
    {
        var layer = Layer(6, 6, new PlpLoraConfig { R = 2, LoraAlpha = 4, Seed = 2 });
        Scramble(layer.TrainedB("a"), 8);
        var x = Randn64(9, 3, 6);
        AssertParameterGradients(layer, () => layer.Forward(x));
        Assert.False(layer.FrozenA("a").RequiresGrad);
        Assert.False(layer.FrozenB("a").RequiresGrad);
        Assert.True(layer.TrainedA("a").RequiresGrad && layer.TrainedB("a").RequiresGrad);
        // The inputs' gradient through the adapter too.
        AssertInputGradients(xs => layer.Forward(xs[0]), x);
    }

    static Dictionary<string, long[]> FrozenBits(PeftModel peft, string name) =>
        LawCases.Bits(BreakForMake.Layers(peft, name).SelectMany(l => new[] { ($"{l.Path}.A", l.Layer.FrozenA(name)), ($"{l.Path}.B", l.Layer.FrozenB(name)) })
            .ToDictionary(p => p.Item1, p => p.Item2));

    static Dictionary<string, long[]> TrainedBits(PeftModel peft, string name) =>
        LawCases.Bits(BreakForMake.Layers(peft, name).SelectMany(l => new[] { ($"{l.Path}.A", l.Layer.TrainedA(name)), ($"{l.Path}.B", l.Layer.TrainedB(name)) })
            .ToDictionary(p => p.Item1, p => p.Item2));

    [Fact]
    public void FrozenHalves_AreBitIdenticalAfter100Steps_OfEveryStage_WithWeightDecay()
    {
        var peft = Model();
        var frozen = FrozenBits(peft, "default");
        var trained = TrainedBits(peft, "default");
        // An ordinary AdamW with decay (the Trainer), a break run and stage 2's AdamWr.
        new Trainer(peft, new AdamW(peft.ParamGroups(1e-2, 0.1)), new TrainerOptions(100, MaxGradNorm: 1.0)).Run(_ => Loss(peft));
        BreakForMake.Break(peft, "default", BreakRun.Content, _ => Loss(peft), _ => Loss(peft) * 0.5, new BreakOptions(100, Lr: 1e-2, AuxiliaryLr: 1e-3, WeightDecay: 0.1));
        new Trainer(peft, BreakForMake.RefineOptimizer(peft, "default", 1e-2, 0.1), new TrainerOptions(100, MaxGradNorm: 1.0)).Run(_ => Loss(peft));
        LawCases.AssertBitIdentical(frozen, FrozenBits(peft, "default"), "frozen halves after 300 steps");
        var after = TrainedBits(peft, "default");
        Assert.All(trained.Keys, k => Assert.False(trained[k].AsSpan().SequenceEqual(after[k]), $"{k} did not train"));
        // The whole factors' first halves are the frozen tensors.
        foreach (var (_, layer) in BreakForMake.Layers(peft, "default"))
        {
            Assert.Equal(layer.FrozenA("default").ToDoubleArray(), layer.LoraA("default").Narrow(1, 0, layer.HalfIn).Contiguous().ToDoubleArray());
            Assert.Equal(layer.FrozenB("default").ToDoubleArray(), layer.LoraB("default").Narrow(0, 0, layer.HalfOut).Contiguous().ToDoubleArray());
        }
    }

    [Fact]
    public void Make_EqualsStyleBTimesStyleAFrozenColumnsBesideContentATrainedColumns()
    {
        // Three adapters of one model, the same initialisation (init_name), the runs moved apart by training.
        var config = new PlpLoraConfig { R = 3, LoraAlpha = 6, TargetModules = Targets, Seed = 5, InitName = "b4m" };
        var peft = Model(config, "content");
        peft.AddAdapter("style", config);
        peft.AddAdapter("make", config with { InitName = null });
        BreakForMake.Break(peft, "content", BreakRun.Content, _ => Loss(peft), _ => Loss(peft) * 0.3, new BreakOptions(5, Lr: 1e-2, AuxiliaryLr: 1e-3));
        BreakForMake.Break(peft, "style", BreakRun.Style, _ => Loss(peft), _ => Loss(peft) * 0.3, new BreakOptions(5, Lr: 1e-2, AuxiliaryLr: 1e-3));
        BreakForMake.Make(peft, "make", peft, "style", peft, "content");
        foreach (var (path, layer) in BreakForMake.Layers(peft, "make"))
        {
            int inF = layer.InFeatures, outF = layer.OutFeatures, h = layer.HalfIn, r = 3;
            double[] aS = layer.LoraA("style").ToDoubleArray(), aC = layer.LoraA("content").ToDoubleArray();
            // [A_s[:, :h] | A_c[:, h:]] by loops, then B_s times it.
            var aMake = new double[r * inF];
            for (int k = 0; k < r; k++)
                for (int i = 0; i < inF; i++) aMake[k * inF + i] = i < h ? aS[k * inF + i] : aC[k * inF + i];
            var expected = NaiveProduct(layer.LoraB("style").ToDoubleArray(), aMake, outF, r, inF).Select(v => 2 * v).ToArray();
            AssertClose(expected, layer.DeltaWeight("make").ToDoubleArray(), 1e-6, path);
            // Same init: the two runs' frozen halves agree, and the runs trained different halves.
            Assert.Equal(layer.FrozenA("style").ToDoubleArray(), layer.FrozenA("content").ToDoubleArray());
            Assert.NotEqual(layer.TrainedA("style").ToDoubleArray(), layer.TrainedA("content").ToDoubleArray());
        }
    }

    [Fact]
    public void InitName_GivesAdaptersTheSameStart_AndWithoutIt_EachAdapterDrawsItsOwn()
    {
        var config = new PlpLoraConfig { R = 2, TargetModules = Targets, Seed = 5 };
        var peft = Model(config with { InitName = "x" }, "one");
        peft.AddAdapter("two", config with { InitName = "x" });
        peft.AddAdapter("three", config);
        var (_, layer) = BreakForMake.Layers(peft, "one")[0];
        Assert.Equal(layer.LoraA("one").ToDoubleArray(), layer.LoraA("two").ToDoubleArray());
        Assert.Equal(layer.LoraB("one").ToDoubleArray(), layer.LoraB("two").ToDoubleArray());
        Assert.NotEqual(layer.LoraA("one").ToDoubleArray(), layer.LoraA("three").ToDoubleArray());
    }

    [Fact]
    public void Break_Clean_StepsEachHalfOnItsOwnLossOnly_WhileAsReleasedLeaksThePrimaryGradientIntoTheAuxiliaryStep()
    {
        // An auxiliary loss with zero gradient: in the clean form B's half stays put (no decay), as released it moves.
        Dictionary<string, long[]> Run(bool asReleased)
        {
            var peft = Model();
            BreakForMake.Break(peft, "default", BreakRun.Content, _ => Loss(peft), _ => Loss(peft) * 0.0,
                new BreakOptions(3, Lr: 1e-2, AuxiliaryLr: 1e-2, WeightDecay: 0, AsReleased: asReleased));
            return LawCases.Bits(BreakForMake.Layers(peft, "default").ToDictionary(l => l.Path, l => l.Layer.TrainedB("default")));
        }
        var start = LawCases.Bits(BreakForMake.Layers(Model(), "default").ToDictionary(l => l.Path, l => l.Layer.TrainedB("default")));
        LawCases.AssertBitIdentical(start, Run(asReleased: false), "clean break: B's half with a zero auxiliary gradient");
        var released = Run(asReleased: true);
        Assert.Contains(start.Keys, k => !start[k].AsSpan().SequenceEqual(released[k]));
    }

    [Fact]
    public void SaveAndLoad_RoundTripTheFourHalves_AndTheConfig()
    {
        var config = new PlpLoraConfig { R = 3, LoraAlpha = 5, OrthBasisSize = 40, InitName = "b4m", TargetModules = Targets, Seed = 5 };
        var peft = Model(config);
        LawCases.Scramble(peft);
        var folder = TempFolder();
        peft.SavePretrained(folder);
        var loaded = PeftApi.Apply(LawCases.Base(), new PlpLoraConfig { R = 3, TargetModules = Targets, Seed = 99 }, "other");
        loaded.LoadAdapter(folder, "default");
        loaded.SetAdapter("default");
        var read = (PlpLoraConfig)loaded.PeftConfigs["default"];
        Assert.Equal((config.R, config.LoraAlpha, config.Orth, config.OrthBasisSize, config.InitName), (read.R, read.LoraAlpha, read.Orth, read.OrthBasisSize, read.InitName));
        LawCases.AssertBitIdentical(LawCases.Bits(peft.NamedAdapterTensors("default").ToDictionary(t => t.Key, t => t.Tensor)),
            LawCases.Bits(loaded.NamedAdapterTensors("default").ToDictionary(t => t.Key, t => t.Tensor)), "loaded adapter");
        Assert.Contains(peft.NamedAdapterTensors("default"), t => t.Key.EndsWith(".plp_A_frozen", StringComparison.Ordinal) && !t.Trainable);
        Assert.Contains(peft.NamedAdapterTensors("default"), t => t.Key.EndsWith(".plp_B", StringComparison.Ordinal) && t.Trainable);
        Assert.Equal(LawCases.Outputs(peft), LawCases.Outputs(loaded));
    }

    [Fact]
    public void Refuses_ABasisSmallerThanTheInput_AZeroRank_AndAnUnknownAdapter()
    {
        var e = Assert.Throws<ArgumentException>(() => Layer(8, 8, new PlpLoraConfig { R = 2, OrthBasisSize = 6 }));
        Assert.Contains("orth_basis_size", e.Message);
        // Without orth the basis size is not used.
        Layer(8, 8, new PlpLoraConfig { R = 2, OrthBasisSize = 6, Orth = false });
        Assert.Contains("r must be positive", Assert.Throws<ArgumentException>(() => new PlpLoraConfig { R = 0 }.Validate()).Message);
        Assert.Contains("no layer holds a PLP LoRA adapter named 'nope'", Assert.Throws<ArgumentException>(() => BreakForMake.Layers(Model(), "nope")).Message);
    }
}
