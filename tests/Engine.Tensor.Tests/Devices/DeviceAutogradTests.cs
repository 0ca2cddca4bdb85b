using Engine.Autograd;
using Xunit;

namespace Engine.Tests.Devices;

[Collection("Devices")]
public sealed class DeviceAutogradTests
{
    // A small transformer-like composite: linear, layer norm, GELU, softmax, gather of target scores, mean, and an
    // FFT round trip (its derivative rules build constant bin weights, which must land on the device too).
    static (Tensor X, Tensor W, Tensor B, Tensor Loss) Forward(Device device)
    {
        var g = new Generator(31);
        var x = Tensor.Randn([3, 4], generator: g).To(device).RequireGrad();
        var w = Tensor.Randn([4, 5], generator: g).To(device).RequireGrad();
        var b = Tensor.Randn([5], generator: g).To(device).RequireGrad();
        var targets = Tensor.FromArray(new long[] { 1, 4, 0 }, [3, 1]).To(device);
        var h = (x.MatMul(w) + b).LayerNorm().Gelu();
        var logp = (h * 2 - 0.5).LogSoftmax(1);
        var spectral = h.Rfft().Irfft(5).Square().Mean();
        var loss = -logp.Gather(1, targets).Mean() + h.Pow(2).Sum(0).Max() * 0.1 + spectral * 0.01;
        return (x, w, b, loss);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void Gradients_OfASmallComposite_OnTheDevice_EqualTheCpus(string name)
    {
        var device = TestDevices.Parse(name);
        var cpu = Forward(Device.Cpu);
        var dev = Forward(device);
        cpu.Loss.Backward();
        dev.Loss.Backward();
        TestDevices.AssertClose(cpu.Loss, dev.Loss, 1e-5);
        Assert.Equal(device, dev.X.Grad!.Device);
        TestDevices.AssertClose(cpu.X.Grad!, dev.X.Grad!, 1e-5);
        TestDevices.AssertClose(cpu.W.Grad!, dev.W.Grad!, 1e-5);
        TestDevices.AssertClose(cpu.B.Grad!, dev.B.Grad!, 1e-5);
    }

    [Fact]
    public void Gradient_ThroughAMoveBetweenDevices_ArrivesOnTheLeafsDevice()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3 }).RequireGrad();
        var loss = (x.To(Device.IlgpuCpu) * x.To(Device.IlgpuCpu)).Sum();
        loss.Backward();
        Assert.Equal(Device.Cpu, x.Grad!.Device);
        Assert.Equal(new float[] { 2, 4, 6 }, x.Grad.ToArray<float>());
    }
}
