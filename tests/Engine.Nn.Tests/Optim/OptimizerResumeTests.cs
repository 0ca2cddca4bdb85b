using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests.Optim;

/// <summary>
/// Every optimiser of <see cref="OptimizerPresets"/> saves its state in a <see cref="TrainingCheckpoint"/> as Adam
/// does (<c>optim.{group}.{index}.{slot}</c>): stopping after 3 steps and resuming in a fresh model and optimiser
/// reproduces the uninterrupted 6-step run bit for bit (losses and final parameters), through a schedule and clipping.
/// </summary>
public class OptimizerResumeTests
{
    static readonly GptConfig Config = new(VocabSize: 11, ContextLength: 6, DModel: 8, Layers: 1, Heads: 2, TiedHead: false);

    public static TheoryData<string> Presets => new(OptimizerPresets.Names);

    static double Step(Gpt model, Optimizer optimizer, ILrSchedule schedule, long step, Generator data) =>
        LanguageModelStep.Run(model, optimizer, schedule, step, data, batch: 3);

    [Theory]
    [MemberData(nameof(Presets))]
    public void Resume_FromCheckpoint_IsBitIdentical(string name)
    {
        var preset = OptimizerPresets.Get(name);
        var schedule = new WarmupCosineSchedule(2, 6);
        var straight = new List<double>();
        var straightModel = new Gpt(Config, new Generator(5));
        {
            var optimizer = preset.Create(straightModel);
            var data = new Generator(9);
            for (int s = 0; s < 6; s++) straight.Add(Step(straightModel, optimizer, schedule, s, data));
        }
        var resumed = new List<double>();
        string path = Path.Combine(Path.GetTempPath(), $"engine-optim-{name}-{Guid.NewGuid():N}.safetensors");
        var model = new Gpt(Config, new Generator(5));
        try
        {
            {
                var optimizer = preset.Create(model);
                var data = new Generator(9);
                for (int s = 0; s < 3; s++) resumed.Add(Step(model, optimizer, schedule, s, data));
                TrainingCheckpoint.Save(path, model, optimizer, 3, new Dictionary<string, Generator> { ["data"] = data });
            }
            {
                model = new Gpt(Config, new Generator(77));
                var optimizer = preset.Create(model);
                var data = new Generator(78);
                var info = TrainingCheckpoint.Restore(path, model, optimizer, new Dictionary<string, Generator> { ["data"] = data });
                Assert.Equal(3, optimizer.StepCount);
                for (long s = info.Step; s < 6; s++) resumed.Add(Step(model, optimizer, schedule, s, data));
            }
        }
        finally
        {
            File.Delete(path);
        }
        Assert.Equal(straight.Select(BitConverter.DoubleToInt64Bits), resumed.Select(BitConverter.DoubleToInt64Bits));
        var expected = straightModel.StateDict();
        foreach (var (key, t) in model.StateDict())
            Assert.Equal(expected[key].ToDoubleArray().Select(BitConverter.DoubleToInt64Bits), t.ToDoubleArray().Select(BitConverter.DoubleToInt64Bits));
    }

    [Theory]
    [MemberData(nameof(Presets))]
    public void Resume_WithoutTheOptimizerState_WouldDiverge(string name)
    {
        // The counterpart that makes the test above able to fail: dropping the state changes the next steps.
        var preset = OptimizerPresets.Get(name);
        var a = new Gpt(Config, new Generator(5));
        var b = new Gpt(Config, new Generator(5));
        var oa = preset.Create(a);
        var ob = preset.Create(b);
        var (da, db) = (new Generator(9), new Generator(9));
        var schedule = new ConstantSchedule();
        for (int s = 0; s < 3; s++)
        {
            Step(a, oa, schedule, s, da);
            Step(b, ob, schedule, s, db);
        }
        ob = preset.Create(b);
        Step(a, oa, schedule, 3, da);
        Step(b, ob, schedule, 3, db);
        Assert.NotEqual(a.StateDict()["blocks.0.attn.qkv.weight"].ToDoubleArray(), b.StateDict()["blocks.0.attn.qkv.weight"].ToDoubleArray());
    }
}
