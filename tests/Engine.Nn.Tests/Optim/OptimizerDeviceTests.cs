using Engine.Autograd;
using Xunit;

namespace Engine.Nn.Tests.Optim;

/// <summary>
/// Every preset optimiser runs unchanged on ILGPU's CPU accelerator (its moments, masks, block maps and Newton–Schulz
/// products are tensor operations on the parameters' device) and gives the CPU backend's losses and state placement.
/// </summary>
public class OptimizerDeviceTests
{
    static readonly GptConfig Config = new(VocabSize: 9, ContextLength: 4, DModel: 8, Layers: 1, Heads: 2, TiedHead: false);

    public static TheoryData<string> Presets => new(OptimizerPresets.Names);

    static double[] Losses(string name, Device device)
    {
        var model = new Gpt(Config, new Generator(3));
        model.To(device);
        var optimizer = OptimizerPresets.Get(name).Create(model);
        var ids = Tensor.Randint(0, Config.VocabSize, [2, Config.ContextLength + 1], generator: new Generator(4)).To(device);
        var losses = new double[3];
        for (int s = 0; s < losses.Length; s++)
        {
            var loss = Nn.Losses.CrossEntropy(model.Forward(ids.Narrow(1, 0, Config.ContextLength)), ids.Narrow(1, 1, Config.ContextLength));
            optimizer.ZeroGrad();
            loss.Backward();
            optimizer.Step();
            losses[s] = loss.Item();
        }
        Assert.All(model.Parameters(), p => Assert.Equal(device, p.Device));
        Assert.All(optimizer.StateDict().Where(kv => kv.Key != "step"), kv => Assert.Equal(device, kv.Value.Device));
        return losses;
    }

    [Theory]
    [MemberData(nameof(Presets))]
    public void TrainingSteps_OnIlgpuCpu_GiveTheCpuLosses(string name)
    {
        var cpu = Losses(name, Device.Cpu);
        var ilgpu = Losses(name, Device.IlgpuCpu);
        // SOAP: this GPT's blocks are rank-deficient (qkv is 24×8, so L has a 16-dimensional null space at the first
        // step); the eigenbasis inside a degenerate eigenspace is arbitrary and float32 rounding picks a different one
        // per backend, which moves the rotated Adam by ~1e-3. SoapTests checks the steps to 1e-4 on a full-rank block.
        double tolerance = name == "soap" ? 1e-2 : 1e-4;
        for (int s = 0; s < cpu.Length; s++)
            Assert.True(Math.Abs(cpu[s] - ilgpu[s]) < tolerance, $"{name} step {s}: CPU loss {cpu[s]}, IlgpuCpu loss {ilgpu[s]}");
    }
}
