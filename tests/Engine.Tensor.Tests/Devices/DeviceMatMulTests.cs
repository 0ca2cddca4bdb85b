using Xunit;

namespace Engine.Tests.Devices;

[Collection("Devices")]
public sealed class DeviceMatMulTests
{
    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void MatMul_BatchedWithBroadcastAndTransposedOperands_MatchesTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var g = new Generator(3);
        var a = Tensor.Randn([2, 3, 4], generator: g);
        var bt = Tensor.Randn([5, 4], generator: g);
        var b = bt.Transpose(0, 1); // [4, 5], strided
        var c = Tensor.Randn([2, 4, 2], generator: g);
        TestDevices.AssertClose(a.MatMul(b), a.To(device).MatMul(bt.To(device).Transpose(0, 1)), 1e-5);
        TestDevices.AssertClose(a.MatMul(c), a.To(device).MatMul(c.To(device)), 1e-5);
        var v = Tensor.Randn([4], generator: g);
        TestDevices.AssertClose(a.MatMul(v), a.To(device).MatMul(v.To(device)), 1e-5);
        var ints = Tensor.Arange(6).Reshape(2, 3);
        TestDevices.AssertClose(ints.MatMul(ints.Transpose(0, 1)), ints.To(device).MatMul(ints.To(device).Transpose(0, 1)), 0);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void MatMul_WithPartialTilesAndSeveralKSlices_MatchesTheCpu(string name)
    {
        // Sizes that are not multiples of any tile, K spanning several shared-memory slices, a broadcast batch.
        var device = TestDevices.Parse(name);
        var g = new Generator(4);
        var a = Tensor.Randn([2, 37, 50], generator: g);
        var bt = Tensor.Randn([45, 50], generator: g);
        var (b, db) = (bt.Transpose(0, 1), bt.To(device).Transpose(0, 1));
        TestDevices.AssertClose(a.MatMul(b), a.To(device).MatMul(db), 1e-5);
        TestDevices.AssertClose(a.To(DType.Float64).MatMul(b.To(DType.Float64)), a.To(device).To(DType.Float64).MatMul(db.To(DType.Float64)), 1e-12);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void Addmm_AccumulatesOntoTheAddendInEveryKernel_MatchesTheCpu(string name)
    {
        // Float32 takes the tiled kernel, Float64 the simple one: both must add the product to the placed addend.
        var device = TestDevices.Parse(name);
        var g = new Generator(5);
        var bias = Tensor.Randn([45], generator: g);
        var a = Tensor.Randn([37, 50], generator: g);
        var bt = Tensor.Randn([45, 50], generator: g);
        TestDevices.AssertClose(Tensor.Addmm(bias, a, bt.T), Tensor.Addmm(bias.To(device), a.To(device), bt.To(device).T), 1e-5);
        var (b64, a64, bt64) = (bias.To(DType.Float64), a.To(DType.Float64), bt.To(DType.Float64));
        TestDevices.AssertClose(Tensor.Addmm(b64, a64, bt64.T), Tensor.Addmm(b64.To(device), a64.To(device), bt64.To(device).T), 1e-12);
        var ints = Tensor.Arange(6).Reshape(2, 3);
        TestDevices.AssertClose(Tensor.Addmm(ints[0], ints.T, ints), Tensor.Addmm(ints[0].To(device), ints.T.To(device), ints.To(device)), 0);
    }

    [Fact]
    public void IlgpuCpuAccelerator_RunsTheTiledGemm()
    {
        // The tiled kernel needs groups of at least 4 x 4 threads; otherwise the tests above would only cover the simple one.
        var backend = Assert.IsType<Engine.Backends.Ilgpu.IlgpuBackend>(Device.IlgpuCpu.Backend);
        Assert.True(backend.Accelerator.MaxNumThreadsPerGroup >= 16, $"max group size {backend.Accelerator.MaxNumThreadsPerGroup}");
    }
}
