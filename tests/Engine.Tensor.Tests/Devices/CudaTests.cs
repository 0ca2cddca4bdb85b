using Engine.Autograd;
using Xunit;

namespace Engine.Tests.Devices;

/// <summary>The CUDA device against the CPU backend on the ops a training step leans on.</summary>
[Collection("Devices")]
public class CudaTests
{
    static readonly Device Gpu = Device.Cuda(0);

    [CudaFact]
    public void MatMulSoftmaxAndLayerNorm_OnCuda_MatchTheCpu()
    {
        var a = Tensor.Randn([4, 33, 65], generator: new Generator(1));
        var b = Tensor.Randn([4, 65, 17], generator: new Generator(2));
        var expected = a.MatMul(b).Softmax(-1).LayerNorm();
        var actual = a.To(Gpu).MatMul(b.To(Gpu)).Softmax(-1).LayerNorm().To(Device.Cpu);
        TestDevices.AssertClose(expected, actual, 1e-4);
    }

    [CudaFact]
    public void Gradients_OnCuda_MatchTheCpu()
    {
        Tensor[] Grads(Device device)
        {
            var x = Tensor.Randn([8, 16], generator: new Generator(3)).To(device).RequireGrad();
            var w = Tensor.Randn([16, 4], generator: new Generator(4)).To(device).RequireGrad();
            var loss = x.MatMul(w).Gelu(true).LogSoftmax(-1).Sum();
            return Autograd.Autograd.Grad(loss, [x, w]).Select(g => g.To(Device.Cpu)).ToArray();
        }
        var (cpu, gpu) = (Grads(Device.Cpu), Grads(Gpu));
        for (int i = 0; i < cpu.Length; i++) TestDevices.AssertClose(cpu[i], gpu[i], 1e-4);
    }

    [CudaFact]
    public void RandomNumbers_OnCuda_AreTheCpuNumbers()
    {
        var cpu = Tensor.Randn([1000], generator: new Generator(9));
        var gpu = Tensor.Randn([1000], generator: new Generator(9), device: Gpu).To(Device.Cpu);
        TestDevices.AssertClose(cpu, gpu, 1e-6);
    }
}
