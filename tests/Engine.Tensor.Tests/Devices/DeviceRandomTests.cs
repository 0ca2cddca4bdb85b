using Xunit;

namespace Engine.Tests.Devices;

[Collection("Devices")]
public sealed class DeviceRandomTests
{
    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void RandomDraws_WithTheSameSeed_GiveTheCpusNumbers(string name)
    {
        var device = TestDevices.Parse(name);
        TestDevices.AssertClose(Tensor.Rand([3, 5], -1, 2, generator: new Generator(11)),
            Tensor.Rand([3, 5], -1, 2, generator: new Generator(11), device: device), 1e-7);
        TestDevices.AssertClose(Tensor.Randn([17], 1, 3, DType.Float64, new Generator(12)),
            Tensor.Randn([17], 1, 3, DType.Float64, new Generator(12), device), 1e-12);
        TestDevices.AssertClose(Tensor.Randint(-5, 1L << 40, [9], generator: new Generator(13)),
            Tensor.Randint(-5, 1L << 40, [9], generator: new Generator(13), device: device), 0);
        TestDevices.AssertClose(Tensor.Bernoulli([20], 0.3, generator: new Generator(14)),
            Tensor.Bernoulli([20], 0.3, generator: new Generator(14), device: device), 0);
        var g = new Generator(15);
        var first = Tensor.Rand([4], generator: g, device: device);
        var second = Tensor.Rand([4], generator: g, device: device);
        Assert.NotEqual(first.ToArray<float>(), second.ToArray<float>()); // the generator's counter advances
    }
}
