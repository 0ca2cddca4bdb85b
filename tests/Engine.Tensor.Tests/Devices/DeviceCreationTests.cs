using Xunit;

namespace Engine.Tests.Devices;

[Collection("Devices")]
public sealed class DeviceCreationTests
{
    [Fact]
    public void Available_AlwaysListsTheCpuAndTheIlgpuCpuAccelerator()
    {
        var devices = Device.Available();
        Assert.Equal(Device.Cpu, devices[0]);
        Assert.Contains(Device.IlgpuCpu, devices);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void To_RoundTripsEveryDtypeThroughTheDevice(string name)
    {
        var device = TestDevices.Parse(name);
        var floats = Tensor.FromArray(new float[] { 1.5f, -2, 3.25f, 0, 5, 6 }, [2, 3]);
        var onDevice = floats.To(device);
        Assert.Equal(device, onDevice.Device);
        Assert.Equal(floats.ToArray<float>(), onDevice.ToArray<float>());
        Assert.Equal(floats.ToArray<float>(), onDevice.To(Device.Cpu).ToArray<float>());
        Assert.Equal(new double[] { 1, 2 }, Tensor.FromArray(new double[] { 1, 2 }).To(device).ToArray<double>());
        Assert.Equal(new[] { 7, -8 }, Tensor.FromArray(new[] { 7, -8 }).To(device).ToArray<int>());
        Assert.Equal(new[] { long.MaxValue, -1L }, Tensor.FromArray(new[] { long.MaxValue, -1L }).To(device).ToArray<long>());
        Assert.Equal(new[] { true, false, true }, Tensor.FromArray(new[] { true, false, true }).To(device).ToArray<bool>());
        Assert.Same(onDevice, onDevice.To(device));
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void StridedViewsAndCasts_OnTheDevice_MatchTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var x = Tensor.FromArray(new float[] { 1.7f, -2.5f, 3, 4, float.NaN, 1e10f }, [2, 3]);
        var d = x.To(device);
        TestDevices.AssertClose(x.Transpose(0, 1).Contiguous(), d.Transpose(0, 1).Contiguous(), 0);
        TestDevices.AssertClose(x.To(DType.Int64), d.To(DType.Int64), 0);
        TestDevices.AssertClose(x.To(DType.Int32), d.To(DType.Int32), 0);
        TestDevices.AssertClose(x.To(DType.Bool), d.To(DType.Bool), 0);
        TestDevices.AssertClose(x.To(DType.Float64), d.To(DType.Float64), 0);
        var big = Tensor.FromArray(new[] { long.MaxValue - 1, -3L });
        Assert.Equal(big.To(DType.Int32).ToArray<int>(), big.To(device).To(DType.Int32).ToArray<int>());
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void CreationFunctions_GivenADevice_CreateThere(string name)
    {
        var device = TestDevices.Parse(name);
        var zeros = Tensor.Zeros([2, 2], DType.Float32, device);
        var full = Tensor.Full([3], 2.5, DType.Float64, device);
        var range = Tensor.Arange(4, device);
        Assert.All(new[] { zeros, full, range }, t => Assert.Equal(device, t.Device));
        Assert.Equal(new float[4], zeros.ToArray<float>());
        Assert.Equal(new[] { 2.5, 2.5, 2.5 }, full.ToArray<double>());
        Assert.Equal(new long[] { 0, 1, 2, 3 }, range.ToArray<long>());
    }

    [Fact]
    public void Ops_OnTensorsOfTwoDevices_FailNamingBothDevices()
    {
        var a = Tensor.Ones(2, 2);
        var b = Tensor.Ones(2, 2).To(Device.IlgpuCpu);
        var error = Assert.Throws<ArgumentException>(() => a + b);
        Assert.Contains("cpu", error.Message);
        Assert.Contains("ilgpu-cpu", error.Message);
        var matmul = Assert.Throws<ArgumentException>(() => b.MatMul(a));
        Assert.Contains("MatMul", matmul.Message);
        Assert.Contains("ilgpu-cpu and cpu", matmul.Message);
        var index = Tensor.FromArray(new long[] { 0, 1 }, [1, 2]);
        Assert.Contains("Gather: tensors are on different devices (ilgpu-cpu and cpu)", Assert.Throws<ArgumentException>(() => b.Gather(1, index)).Message);
        Assert.Contains("IndexSelect", Assert.Throws<ArgumentException>(() => b.IndexSelect(0, index.Reshape(-1))).Message);
        Assert.Contains("LayerNorm", Assert.Throws<ArgumentException>(() => b.LayerNorm(Tensor.Ones(2))).Message);
    }

    [Fact]
    public void ScalarOperands_AreCreatedOnTheTensorsDevice()
    {
        var x = Tensor.FromArray(new float[] { 1, -2, 3 }).To(Device.IlgpuCpu);
        var y = (2 * x + 1) / 2 - 0.5;
        Assert.Equal(Device.IlgpuCpu, y.Device);
        Assert.Equal(new float[] { 1, -2, 3 }, y.ToArray<float>());
        Assert.Equal(Device.IlgpuCpu, (1 / x).Device);
        Assert.Equal(Device.IlgpuCpu, x.MaskedFill(x.Lt(0), 0).Device);
    }

    [Fact]
    public void DeviceBuffers_OfCollectedTensors_AreReused()
    {
        var backend = Assert.IsType<Engine.Backends.Ilgpu.IlgpuBackend>(Device.IlgpuCpu.Backend);
        for (int round = 0; round < 3; round++) UseAndDrop(); // warm: the pool now holds buffers of these size classes
        GC.Collect();
        GC.WaitForPendingFinalizers();
        int before = backend.Pool.Created;
        for (int round = 0; round < 3; round++)
        {
            UseAndDrop();
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.Equal(before, backend.Pool.Created);

        backend.EmptyCache(); // the collected tensors' buffers go back to the device; a live one stays
        var live = Tensor.Full([5], 3, DType.Float32, Device.IlgpuCpu);
        Assert.True(backend.Pool.Created < before, $"{backend.Pool.Created} buffers held after EmptyCache, {before} before");
        Assert.Equal(new float[] { 3, 3, 3, 3, 3 }, live.ToArray<float>());
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    static void UseAndDrop()
    {
        var x = Tensor.Zeros([1000], DType.Float32, Device.IlgpuCpu);
        Assert.Equal(0f, (x + 1).Exp().Sum().Item<float>() - 1000 * MathF.E, 2);
    }
}
