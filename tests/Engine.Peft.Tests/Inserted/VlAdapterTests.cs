using Engine.Peft.Inserted;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Inserted;

/// <summary>
/// VL-Adapter (spec adapters-other.md §10): the formula against a naive restatement, the oracle "Up = 0 is the frozen
/// backbone", the count 2d(d/8) + d/8 + d per adapter, and the paper's point: one adapter shared by all tasks gives
/// the same output under every task id, while per-task adapters cost T times the parameters and route each example.
/// </summary>
public class VlAdapterTests
{
    static readonly ModuleSelector Sublayers = ["attn.proj", "mlp.proj"];

    static double Swish(double v) => v / (1 + Math.Exp(-v));

    [Fact]
    public void Layer_IsYPlusUpSwishDown_AgainstANaiveRestatement_WithFiniteDifferenceGradients()
    {
        var layer = StandaloneLayer(l => new VlAdapterLayer(l), 5, 16, new VlAdapterConfig { InitStd = 0.4, Seed = 2 });
        int d = 16, m = 2;
        Assert.Equal([m, d], layer.Down("a").Weight.Shape);
        var x = Randn64(7, 3, 5);
        var y = layer.BaseLayer.Forward(x).ToDoubleArray();
        var (wd, bd) = (layer.Down("a").Weight.ToDoubleArray(), layer.Down("a").Bias.ToDoubleArray());
        var (wu, bu) = (layer.Up("a").Weight.ToDoubleArray(), layer.Up("a").Bias.ToDoubleArray());
        var expected = new double[3 * d];
        for (int n = 0; n < 3; n++)
        {
            var z = new double[m];
            for (int j = 0; j < m; j++)
            {
                double s = bd[j];
                for (int i = 0; i < d; i++) s += wd[j * d + i] * y[n * d + i];
                z[j] = Swish(s);
            }
            for (int i = 0; i < d; i++)
            {
                double s = bu[i];
                for (int j = 0; j < m; j++) s += wu[i * m + j] * z[j];
                expected[n * d + i] = y[n * d + i] + s;
            }
        }
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12, "VL-Adapter");
        AssertParameterGradients(layer, () => layer.Forward(x));
        AssertInputGradients(xs => layer.Forward(xs[0]), x);
        Assert.NotNull(layer.MergeRefusal("a"));
    }

    [Fact]
    public void WithUpZero_TheModelIsTheFrozenBackbone_AndAtTheBackboneInitItIsNot()
    {
        var ids = Ids();
        var expected = TinyGpt().Forward(ids).ToDoubleArray();
        var zero = Peft.Apply(TinyGpt(), new VlAdapterConfig { ZeroUp = true, TargetModules = Sublayers, Seed = 3 });
        Assert.Equal(expected, zero.Forward(ids).ToDoubleArray());
        // Spec pitfall 6: the reference initialises Up like the backbone (N(0, 0.02²)), so the start is not the base.
        var init = Peft.Apply(TinyGpt(), new VlAdapterConfig { TargetModules = Sublayers, Seed = 3 });
        var diff = expected.Zip(init.Forward(ids).ToDoubleArray(), (a, b) => Math.Abs(a - b)).Max();
        Assert.True(diff > 1e-6, $"the backbone init left the model at the base (max difference {diff})");
        // Init statistics: N(0, 0.02²) weights, zero biases.
        var layer = (VlAdapterLayer)init.AdapterLayers().First().Layer;
        var w = layer.Up("default").Weight.ToDoubleArray();
        Assert.InRange(Math.Sqrt(w.Select(v => v * v).Average()), 0.01, 0.04);
        Assert.All(layer.Up("default").Bias.ToDoubleArray(), v => Assert.Equal(0, v));
    }

    [Fact]
    public void TrainableCount_Is2DTimesDOver8_PlusDOver8_PlusD_PerAdapter()
    {
        var gpt = new Gpt(new GptConfig(13, 16, 32, 2, 2, MlpRatio: 2), new Generator(1));
        var peft = Peft.Apply(gpt, new VlAdapterConfig { TargetModules = Sublayers, Seed = 3 });
        int d = 32, m = d / 8;
        Assert.Equal(4 * (2 * d * m + m + d), peft.PrintTrainableParameters(TextWriter.Null).Trainable);
    }

    [Fact]
    public void SharedAdapter_GivesTheSameOutputForEveryTask_PerTaskAdaptersCostTTimesAndRouteEachExample()
    {
        const int tasks = 3;
        var ids = Ids();
        var shared = Peft.Apply(TinyGpt(), new VlAdapterConfig { InitStd = 0.3, NTasks = tasks, TargetModules = Sublayers, Seed = 3 });
        var perTask = Peft.Apply(TinyGpt(), new VlAdapterConfig { InitStd = 0.3, UseSingleAdapter = false, NTasks = tasks, TargetModules = Sublayers, Seed = 3 });
        long one = shared.PrintTrainableParameters(TextWriter.Null).Trainable;
        Assert.Equal(tasks * one, perTask.PrintTrainableParameters(TextWriter.Null).Trainable);

        var outputs = Enumerable.Range(0, tasks).Select(t => { using (shared.TaskScope(t)) return shared.Forward(ids).ToDoubleArray(); }).ToList();
        Assert.All(outputs, o => Assert.Equal(outputs[0], o));
        Assert.Equal(outputs[0], shared.Forward(ids).ToDoubleArray());   // no task ids needed at all

        var routed = Enumerable.Range(0, tasks).Select(t => { using (perTask.TaskScope(t)) return perTask.Forward(ids); }).ToList();
        Assert.True((routed[0] - routed[1]).Abs().Max().Item() > 1e-3, "per-task adapters gave one output for two tasks");
        // Per example: row 0 with task 2, row 1 with task 0, as each task's own forward.
        Tensor mixed;
        using (perTask.TaskScope([2, 0])) mixed = perTask.Forward(ids);
        AssertClose(routed[2].Select(0, 0), mixed.Select(0, 0), 1e-6, "row 0, task 2");
        AssertClose(routed[0].Select(0, 1), mixed.Select(0, 1), 1e-6, "row 1, task 0");
        Assert.Throws<MissingTaskIdsException>(() => perTask.Forward(ids));
    }

    [Fact]
    public void OnBert_TheZooPresetAdaptsBothSublayerOutputsOfEveryLayer()
    {
        var bert = (Bert)new Bert(new BertConfig(20, 16, 2, 2, 32, 16, Dropout: 0, AttentionDropout: 0), new Generator(1)).Eval();
        var ids = Tensor.FromArray(new long[,] { { 1, 5, 2, 9 }, { 4, 4, 0, 12 } });
        var expected = bert.Forward(ids).ToDoubleArray();
        var peft = Peft.Apply(bert, VlAdapterConfig.Preset(AdapterPreset.ForBert(2, 10, 1)));
        Assert.Equal(4, peft.AdapterLayers().Count());
        Assert.Equal(expected, peft.Model.Forward(ids).ToDoubleArray());           // zero Up: the base
        foreach (var p in peft.TrainableParameters()) Scramble(p, 5, 0.3);
        Assert.NotEqual(expected, peft.Model.Forward(ids).ToDoubleArray());
    }
}
