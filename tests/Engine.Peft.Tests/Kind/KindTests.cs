using Engine.Peft.Kind;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Kind;

/// <summary>
/// KIND (arXiv 2408.07337, the engine's reading, spec adapters-lowrank.md section 13): learngenes + class-gated tailors
/// from the SVD of W0. With every gate on the layer is W0 (the spec's oracle); each example of a mixed batch gets its
/// own class's W_c (against a naive per-example reference); merging takes one class; transfer keeps the learngenes.
/// </summary>
public class KindTests
{
    const int InF = 10, OutF = 12;

    static KindConfig Config => new() { NLearngenes = 3, NTailors = 2, NClasses = 2 };

    static KindLayer Layer(KindConfig config) => StandaloneLayer(l => new KindLayer(l), InF, OutF, config);

    // The weight the standalone layer wraps, before KIND moved components out of it ([out, in], Float64).
    static double[] OriginalWeight() => new Linear(InF, OutF, true, generator: new Generator(3)).Weight.To(DType.Float64).ToDoubleArray();

    static void ScrambleFactors(KindLayer layer)
    {
        ulong seed = 40;
        foreach (var t in new[] { layer.LearngeneU("a"), layer.LearngeneS("a"), layer.LearngeneVh("a"), layer.TailorU("a"), layer.TailorS("a"), layer.TailorVh("a") })
            using (Autograd.Autograd.NoGrad()) t.CopyFrom(t.Detach() + Randn64(seed++, t.Shape) * 0.3);
    }

    // W_c [out, in] by loops from the layer's tensors: W_res + Σ_j U_G σ_G V_G + Σ_j U_T g_c σ_T V_T.
    static double[,] NaiveClassWeight(KindLayer layer, int cls)
    {
        var res = layer.BaseLayer.Weight.ToDoubleArray();
        var (ug, sg, vg) = (layer.LearngeneU("a").ToDoubleArray(), layer.LearngeneS("a").ToDoubleArray(), layer.LearngeneVh("a").ToDoubleArray());
        var (ut, st, vt) = (layer.TailorU("a").ToDoubleArray(), layer.TailorS("a").ToDoubleArray(), layer.TailorVh("a").ToDoubleArray());
        var gates = layer.Gates("a").ToDoubleArray();
        int g = sg.Length, t = st.Length;
        var w = new double[OutF, InF];
        for (int o = 0; o < OutF; o++)
            for (int i = 0; i < InF; i++)
            {
                double v = res[o * InF + i];
                for (int j = 0; j < g; j++) v += ug[o * g + j] * sg[j] * vg[j * InF + i];
                for (int j = 0; j < t; j++) v += ut[o * t + j] * gates[cls * t + j] * st[j] * vt[j * InF + i];
                w[o, i] = v;
            }
        return w;
    }

    [Fact]
    public void AllGatesOn_TheLayerIsTheFullProduct_AndAtInitTheOriginalWeight()
    {
        var layer = Layer(Config);
        var full = (layer.BaseLayer.Weight + layer.FullProduct("a")).ToDoubleArray();
        AssertClose(OriginalWeight(), full, 1e-5, "W_res + full product at init");
        // The moved components are the top ones: the residual's spectral norm (power iteration) is at most the smallest kept σ.
        var s = layer.LearngeneS("a").ToDoubleArray().Concat(layer.TailorS("a").ToDoubleArray()).ToArray();
        for (int j = 1; j < s.Length; j++) Assert.True(s[j] <= s[j - 1] + 1e-9, "learngenes are the top triplets, tailors the next");
        var res = layer.BaseLayer.Weight.ToDoubleArray();
        var v = Enumerable.Range(0, InF).Select(i => 1.0 + i).ToArray();
        double norm = 0;
        for (int it = 0; it < 500; it++)
        {
            var u = new double[OutF];
            for (int o = 0; o < OutF; o++) for (int i = 0; i < InF; i++) u[o] += res[o * InF + i] * v[i];
            var w = new double[InF];
            for (int i = 0; i < InF; i++) for (int o = 0; o < OutF; o++) w[i] += res[o * InF + i] * u[o];
            norm = Math.Sqrt(Math.Sqrt(w.Sum(a => a * a)) / Math.Sqrt(v.Sum(a => a * a)));
            double wn = Math.Sqrt(w.Sum(a => a * a));
            v = w.Select(a => a / wn).ToArray();
        }
        Assert.True(norm <= s[^1] + 1e-5, $"residual spectral norm {norm} exceeds the smallest kept singular value {s[^1]}");
    }

    [Fact]
    public void GateTable_GivesEachClassItsOwnBlockOfTailors()
    {
        var gates = Layer(Config).Gates("a").ToDoubleArray();
        Assert.Equal(new double[] { 1, 1, 0, 0, 0, 0, 1, 1 }, gates);
    }

    [Fact]
    public void MixedBatch_EachExampleGetsItsClassWeight_AgainstANaivePerExampleReference()
    {
        var layer = Layer(Config);
        ScrambleFactors(layer);
        int[] classes = [0, 1, 1, 0];
        const int time = 3;
        var x = Randn64(9, classes.Length, time, InF);
        double[] got;
        using (TaskIds.Begin(classes)) got = layer.Forward(x).ToDoubleArray();
        var xs = x.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var expected = new double[classes.Length * time * OutF];
        for (int b = 0; b < classes.Length; b++)
        {
            var w = NaiveClassWeight(layer, classes[b]);
            for (int t = 0; t < time; t++)
                for (int o = 0; o < OutF; o++)
                {
                    double sum = bias[o];
                    for (int i = 0; i < InF; i++) sum += xs[(b * time + t) * InF + i] * w[o, i];
                    expected[(b * time + t) * OutF + o] = sum;
                }
        }
        AssertClose(expected, got, 1e-10, "per-example W_c");
        // The classes really differ.
        var w0 = NaiveClassWeight(layer, 0);
        var w1 = NaiveClassWeight(layer, 1);
        Assert.True(Enumerable.Range(0, OutF * InF).Max(k => Math.Abs(w0[k / InF, k % InF] - w1[k / InF, k % InF])) > 1e-2);
    }

    [Fact]
    public void NoTaskIdsAndNoDefault_IsRefusedWithTheRemedy()
    {
        var layer = Layer(Config);
        var e = Assert.Throws<MissingTaskIdsException>(() => layer.Forward(Randn64(2, 2, InF)));
        Assert.Contains("TaskScope", e.Message);
    }

    [Fact]
    public void Merge_TakesTheOneClassInScope_AndRefusesAMixedSelection()
    {
        var layer = Layer(Config);
        ScrambleFactors(layer);
        var x = Randn64(4, 2, 3, InF);
        var before = layer.BaseLayer.Weight.ToDoubleArray();
        double[] expected;
        using (TaskIds.Begin([1, 1])) expected = layer.Forward(x).ToDoubleArray();

        var refused = Assert.Throws<NotSupportedException>(() => layer.Merge());
        Assert.Contains("one class", refused.Message);
        using (TaskIds.Begin([0, 1])) Assert.Throws<NotSupportedException>(() => layer.Merge());
        Assert.False(layer.Merged);

        using (TaskIds.Begin(1)) layer.Merge();
        Assert.True(layer.Merged);
        // Merged: the layer is the base Linear holding W_1, whatever the scope.
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-10, "merged class 1");
        layer.Unmerge();
        AssertClose(before, layer.BaseLayer.Weight.ToDoubleArray(), 1e-12, "unmerged");
    }

    [Fact]
    public void Transfer_KeepsTheLearngenes_AndRestartsTheNewClassTailorsAtZero()
    {
        var layer = Layer(Config);
        ScrambleFactors(layer);
        var genes = new[] { layer.LearngeneU("a"), layer.LearngeneS("a"), layer.LearngeneVh("a") }.Select(t => t.ToDoubleArray()).ToArray();
        var class1Before = NaiveClassWeight(layer, 1);
        var oldU = layer.TailorU("a").ToDoubleArray();
        layer.ReinitialiseTailors("a", 0, new Generator(7));

        var after = new[] { layer.LearngeneU("a"), layer.LearngeneS("a"), layer.LearngeneVh("a") }.Select(t => t.ToDoubleArray()).ToArray();
        for (int i = 0; i < 3; i++) Assert.Equal(genes[i], after[i]);
        Assert.Equal(new double[] { 0, 0 }, layer.TailorS("a").ToDoubleArray().Take(2).ToArray());
        Assert.NotEqual(oldU, layer.TailorU("a").ToDoubleArray());
        // Class 1 is untouched; class 0 is now W_res + learngenes only.
        var class1After = NaiveClassWeight(layer, 1);
        Assert.Equal(class1Before.Cast<double>(), class1After.Cast<double>());
        var expected = (layer.BaseLayer.Weight + (layer.LearngeneU("a") * layer.LearngeneS("a").Unsqueeze(0)) % layer.LearngeneVh("a")).ToDoubleArray();
        AssertClose(expected, NaiveClassWeight(layer, 0).Cast<double>().ToArray(), 1e-12, "class 0 after transfer");
        // The new tailors still train: σ's gradient is u_jᵀ G v_j, non-zero.
        layer.Train();
        using (TaskIds.Begin(0)) layer.Forward(Randn64(5, 2, InF)).Pow(2).Sum().Backward();
        Assert.True(layer.TailorS("a").Grad!.ToDoubleArray().Take(2).All(g => Math.Abs(g) > 1e-8));
    }

    [Fact]
    public void OneClass_ThePresetStartsAtTheBase_AndDeleteRestoresTheWeight()
    {
        var config = KindConfig.Preset(AdapterPreset.ForTransformer(4, 10, 1)) with { TargetModules = null };
        Assert.Equal((2, 2, 1, 0), (config.NLearngenes, config.NTailors, config.NClasses, config.DefaultTaskId));
        var layer = Layer(config);
        var reference = new Linear(InF, OutF, true, generator: new Generator(3));
        reference.To(DType.Float64);
        var x = Randn64(6, 3, InF);
        AssertClose(reference.Forward(x).ToDoubleArray(), layer.Forward(x).ToDoubleArray(), 1e-5, "preset at init");
        layer.DeleteAdapter("a");
        AssertClose(OriginalWeight(), layer.BaseLayer.Weight.ToDoubleArray(), 1e-6, "after delete");
    }

    [Fact]
    public void TooManyComponents_AreRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => Layer(new KindConfig { NLearngenes = 7, NTailors = 2, NClasses = 2 }));
        Assert.Contains("min(in, out)", e.Message);
    }
}
