using Engine.Autograd;
using Xunit;

namespace Engine.Nn.Tests;

/// <summary>Layers, autograd and the optimiser run unchanged on ILGPU's CPU accelerator and agree with the CPU backend.</summary>
public class DeviceTrainingTests
{
    static readonly GptConfig Config = new(VocabSize: 13, ContextLength: 8, DModel: 16, Layers: 2, Heads: 2);

    static double[] TrainingLosses(Device device, int steps)
    {
        var model = new Gpt(Config, new Generator(3));
        model.To(device);
        var optimizer = new AdamW(model.Parameters(), 1e-2);
        var ids = Tensor.Randint(0, Config.VocabSize, [2, Config.ContextLength + 1], generator: new Generator(4)).To(device);
        var losses = new double[steps];
        for (int s = 0; s < steps; s++)
        {
            var loss = Losses.CrossEntropy(model.Forward(ids.Narrow(1, 0, Config.ContextLength)), ids.Narrow(1, 1, Config.ContextLength));
            optimizer.ZeroGrad();
            loss.Backward();
            optimizer.Step();
            losses[s] = loss.Item();
        }
        Assert.All(model.Parameters(), p => Assert.Equal(device, p.Device));
        return losses;
    }

    [Fact]
    public void TinyGptTrainingSteps_OnIlgpuCpu_GiveTheCpuLosses()
    {
        var cpu = TrainingLosses(Device.Cpu, 3);
        var ilgpu = TrainingLosses(Device.IlgpuCpu, 3);
        for (int s = 0; s < cpu.Length; s++)
            Assert.True(Math.Abs(cpu[s] - ilgpu[s]) < 1e-4, $"step {s}: CPU loss {cpu[s]}, IlgpuCpu loss {ilgpu[s]}");
    }

    [Fact]
    public void ModuleTo_MovesParametersAndKeepsTiedTensorsTied()
    {
        var model = new Gpt(Config, new Generator(5));
        model.To(Device.IlgpuCpu);
        Assert.All(model.Parameters(), p => Assert.True(p.Device == Device.IlgpuCpu && p.RequiresGrad && p.IsLeaf));
        Assert.Equal(model.NamedParameters().Count(), model.StateDict().Count);
        var ids = Tensor.FromArray(new long[] { 1, 2, 3 }, [1, 3]);
        var e = Assert.Throws<ArgumentException>(() => model.Forward(ids));
        Assert.Contains("cpu", e.Message);
    }
}
