using Xunit;

namespace Engine.Peft.Tests;

/// <summary>The shared mechanism of data-driven initialisations: calibration data and the layer-input recorder.</summary>
public class CalibrationTests
{
    static (PeftModel Peft, Linear First, Linear Second, Tensor[] Inputs) TwoLayers()
    {
        var g = new Generator(3);
        var first = new Linear(3, 4, bias: true, g);
        var second = new Linear(4, 2, bias: true, g);
        var peft = new PeftModel(new Sequential(first, second));
        var inputs = new[] { Tensor.Randn([5, 3], 0, 1, DType.Float32, g), Tensor.Randn([2, 3], 0, 1, DType.Float32, g) };
        return (peft, first, second, inputs);
    }

    static CalibrationContext Context(PeftModel peft, Module target, string path, CalibrationData data) =>
        new(peft, "probe", [(peft.PathOf(path), target)], data);

    [Fact]
    public void Recorder_SeesEachInputOfTheTarget_InOrder_AndLeavesOutputsAndModulesAsTheyWere()
    {
        var (peft, first, second, inputs) = TwoLayers();
        var outputs = new List<double[]>();
        var data = new CalibrationData(inputs.Length, i =>
        {
            var y = peft.Model.Forward(inputs[i]);
            outputs.Add(y.ToDoubleArray());
            return y.Sum();
        });
        var seen = new List<(int Target, double[] Input)>();
        LayerInputRecorder.Record(Context(peft, second, "1", data), (t, x) => seen.Add((t, x.ToDoubleArray())));

        // The input of the second layer is the first layer's output, computed here without the recorder.
        Assert.Equal(2, seen.Count);
        for (int i = 0; i < inputs.Length; i++)
        {
            Assert.Equal(0, seen[i].Target);
            Assert.Equal(first.Forward(inputs[i]).ToDoubleArray(), seen[i].Input);
            Assert.Equal(second.Forward(first.Forward(inputs[i])).ToDoubleArray(), outputs[i]);
        }
        Assert.Same(second, ((Sequential)peft.Model)[1]);
        Assert.DoesNotContain(peft.Model.NamedModules(), m => m.Module.GetType().DeclaringType == typeof(LayerInputRecorder));
    }

    [Fact]
    public void Recorder_PutsTheTargetsBack_WhenTheRunThrows()
    {
        var (peft, first, second, inputs) = TwoLayers();
        var data = new CalibrationData(2, i => i == 0 ? peft.Model.Forward(inputs[0]).Sum() : throw new InvalidOperationException("bad batch"));
        var error = Assert.Throws<InvalidOperationException>(() =>
            LayerInputRecorder.Record(new CalibrationContext(peft, "probe", [(peft.PathOf("0"), first), (peft.PathOf("1"), second)], data), (_, _) => { }));
        Assert.Equal("bad batch", error.Message);
        Assert.Same(first, ((Sequential)peft.Model)[0]);
        Assert.Same(second, ((Sequential)peft.Model)[1]);
    }

    [Fact]
    public void Recorder_RunsWithoutRecordingGradients()
    {
        var (peft, _, second, inputs) = TwoLayers();
        bool? recorded = null;
        var data = new CalibrationData(1, i => { var y = peft.Model.Forward(inputs[i]); recorded = y.RequiresGrad; return y.Sum(); });
        LayerInputRecorder.Record(Context(peft, second, "1", data), (_, _) => { });
        Assert.False(recorded);
    }

    [Fact]
    public void CalibrationData_WithoutBatches_IsRefusedByName()
    {
        var error = Assert.Throws<ArgumentException>(() => new CalibrationData(0, _ => throw new InvalidOperationException("never run")).Validate("probe"));
        Assert.Contains("at least one batch", error.Message);
    }
}
