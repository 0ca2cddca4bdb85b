using Engine.Autograd;
using Engine.Nn;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>Adapters run unchanged on ILGPU's CPU accelerator: the same logits, losses and updated adapter weights as on the CPU.</summary>
public class DeviceAdapterTests
{
    static (double[] Logits, double[] Losses, double[] LoraB) Run(Device device, bool dora)
    {
        var peft = Peft.Apply(TinyGpt(), Lora() with { UseDora = dora });
        peft.To(device);
        var ids = Ids().To(device);
        var logits = peft.Model.Forward(ids).To(Device.Cpu).ToDoubleArray();
        var optimizer = new AdamW(peft.TrainableParameters(), 1e-2);
        peft.Train();
        var losses = new double[2];
        for (int s = 0; s < 2; s++)
        {
            var loss = Losses.CrossEntropy(peft.Model.Forward(ids.Narrow(1, 0, 4)), ids.Narrow(1, 1, 4));
            optimizer.ZeroGrad();
            loss.Backward();
            optimizer.Step();
            losses[s] = loss.Item();
        }
        Assert.All(peft.Parameters(), p => Assert.Equal(device, p.Device));
        var loraB = peft.Model.NamedParameters().First(p => p.Name.Contains("lora_B")).Parameter.To(Device.Cpu).ToDoubleArray();
        return (logits, losses, loraB);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LoraAndDora_OnIlgpuCpu_MatchTheCpu(bool dora)
    {
        var cpu = Run(Device.Cpu, dora);
        var gpu = Run(Device.IlgpuCpu, dora);
        AssertClose(cpu.Logits, gpu.Logits, 1e-4, "logits");
        AssertClose(cpu.Losses, gpu.Losses, 1e-4, "losses");
        AssertClose(cpu.LoraB, gpu.LoraB, 1e-4, "lora_B after two AdamW steps");
    }
}
