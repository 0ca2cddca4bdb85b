using Xunit;

namespace Engine.Tests.Devices;

[Collection("Devices")]
public sealed class DeviceIndexingTests
{
    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void GatherAndScatterAdd_WithRepeatedAndNegativeIndices_MatchTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var x = Tensor.Randn([3, 4], generator: new Generator(5));
        var index = Tensor.FromArray(new long[] { 0, 3, 3, -1, 1, 1 }, [3, 2]);
        TestDevices.AssertClose(x.Gather(1, index), x.To(device).Gather(1, index.To(device)), 0);
        var source = Tensor.Randn([3, 2], generator: new Generator(6));
        TestDevices.AssertClose(x.ScatterAdd(1, index, source), x.To(device).ScatterAdd(1, index.To(device), source.To(device)), 1e-6);
        var rows = Tensor.FromArray(new long[] { 2, 0, 2 }, [3, 1]).Expand(3, 4);
        TestDevices.AssertClose(x.ScatterAdd(0, rows, x), x.To(device).ScatterAdd(0, rows.To(device), x.To(device)), 1e-6);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void IndexSelectIndexAddEmbeddingAndConcat_MatchTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var x = Tensor.Randn([4, 3], generator: new Generator(8));
        var index = Tensor.FromArray(new long[] { 3, 0, 3 });
        var d = x.To(device);
        TestDevices.AssertClose(x.IndexSelect(0, index), d.IndexSelect(0, index.To(device)), 0);
        var columns = Tensor.FromArray(new long[] { 2, -3, 2, 1, 0, 9 }).Slice(0, 0, 4, step: 1); // a view with an offset
        TestDevices.AssertClose(x.IndexSelect(1, columns.Narrow(0, 1, 3)), d.IndexSelect(1, columns.To(device).Narrow(0, 1, 3)), 0);
        var source = Tensor.Randn([3, 3], generator: new Generator(9));
        TestDevices.AssertClose(x.IndexAdd(0, index, source), d.IndexAdd(0, index.To(device), source.To(device)), 1e-6);
        var ids = Tensor.FromArray(new long[] { 1, 1, 2, 0 }, [2, 2]);
        TestDevices.AssertClose(x.Embedding(ids), d.Embedding(ids.To(device)), 0);
        TestDevices.AssertClose(Tensor.Concat([x, x.Neg()], 1), Tensor.Concat([d, d.Neg()], 1), 0);
    }

    [Fact]
    public void Gather_WithAnOutOfRangeIndex_FailsAtTheNextReadBack()
    {
        var x = Tensor.Ones(2, 3).To(Device.IlgpuCpu);
        var bad = Tensor.FromArray(new long[] { 0, 7 }, [1, 2]).To(Device.IlgpuCpu);
        var y = x.Gather(1, bad); // queued; the device cannot throw
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => y.ToArray<float>());
        Assert.Contains("Gather", error.Message);
        Assert.Equal(new float[] { 1, 1 }, x.Gather(1, Tensor.FromArray(new long[] { 0, 2 }, [1, 2]).To(Device.IlgpuCpu)).ToArray<float>());
    }
}
