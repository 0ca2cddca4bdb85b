using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests;

public class TrainingCheckpointTests
{
    static readonly GptConfig Config = new(VocabSize: 11, ContextLength: 8, DModel: 16, Layers: 2, Heads: 2, Dropout: 0.1);

    static double Step(Gpt model, Optimizer optimizer, ILrSchedule schedule, long step, Generator data) =>
        LanguageModelStep.Run(model, optimizer, schedule, step, data, batch: 4);

    [Fact]
    public void Resume_FromCheckpoint_ReproducesTheUninterruptedLossCurveBitForBit()
    {
        var schedule = new WarmupCosineSchedule(2, 8);
        var straight = new List<double>();
        {
            var (init, data) = (new Generator(5), new Generator(9));
            var model = new Gpt(Config, init);
            var optimizer = new AdamW(model.Parameters(), 1e-2);
            for (int s = 0; s < 8; s++) straight.Add(Step(model, optimizer, schedule, s, data));
        }

        var resumed = new List<double>();
        string path = Path.Combine(Path.GetTempPath(), $"engine-ckpt-{Guid.NewGuid():N}.safetensors");
        try
        {
            {
                var (init, data) = (new Generator(5), new Generator(9));
                var model = new Gpt(Config, init);
                var optimizer = new AdamW(model.Parameters(), 1e-2);
                for (int s = 0; s < 4; s++) resumed.Add(Step(model, optimizer, schedule, s, data));
                TrainingCheckpoint.Save(path, model, optimizer, 4, new Dictionary<string, Generator> { ["init"] = init, ["data"] = data }, new Dictionary<string, string> { ["note"] = "halfway" });
            }
            {
                // A differently initialised model and fresh generators: everything must come from the file.
                var (init, data) = (new Generator(77), new Generator(78));
                var model = new Gpt(Config, init);
                var optimizer = new AdamW(model.Parameters(), 1e-2);
                var info = TrainingCheckpoint.Restore(path, model, optimizer, new Dictionary<string, Generator> { ["init"] = init, ["data"] = data });
                Assert.Equal(4, info.Step);
                Assert.Equal("halfway", info.Values["note"]);
                for (long s = info.Step; s < 8; s++) resumed.Add(Step(model, optimizer, schedule, s, data));
            }
        }
        finally
        {
            File.Delete(path);
        }
        Assert.Equal(straight.Select(BitConverter.DoubleToInt64Bits), resumed.Select(BitConverter.DoubleToInt64Bits));
    }

    [Fact]
    public void Restore_OfAModelOnlyFile_ForAnOptimizer_SaysSo()
    {
        string path = Path.Combine(Path.GetTempPath(), $"engine-ckpt-{Guid.NewGuid():N}.safetensors");
        try
        {
            var model = new Gpt(Config, new Generator(1));
            TrainingCheckpoint.Save(path, model, null, 0);
            var optimizer = new AdamW(model.Parameters());
            var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Restore(path, model, optimizer));
            Assert.Contains("no optimiser state", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
