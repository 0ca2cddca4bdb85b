using Xunit;

namespace Engine.Tests.Devices;

[Collection("Devices")]
public sealed class DeviceElementwiseTests
{
    // A transposed (strided) matrix and a broadcast row, made on the device so the device sees those layouts.
    static (Tensor A, Tensor B) Operands(Device device)
    {
        var a = Tensor.FromArray(new float[] { 0.5f, -1.25f, 2, -3, 0.75f, 1.5f, -0.25f, 4, 2.5f, -1, 0.1f, 3 }, [3, 4]).To(device).Transpose(0, 1);
        var b = Tensor.FromArray(new float[] { 1.5f, -0.5f, 2 }).To(device);
        return (a, b);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void BinaryOps_OnStridedAndBroadcastInputs_MatchTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var (a, b) = Operands(Device.Cpu);
        var (da, db) = Operands(device);
        Assert.False(da.IsContiguous);
        TestDevices.AssertClose(a + b, da + db, 0);
        TestDevices.AssertClose(a * b - a, da * db - da, 0);
        TestDevices.AssertClose(a / b, da / db, 0);
        TestDevices.AssertClose(a.Maximum(b), da.Maximum(db), 0);
        TestDevices.AssertClose(a.Abs().Pow(b), da.Abs().Pow(db), 1e-6);
        var ints = Tensor.FromArray(new long[] { 7, -9, 1L << 40 });
        TestDevices.AssertClose(ints * 3 - ints, ints.To(device) * 3 - ints.To(device), 0);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void UnaryOps_OnAStridedInput_MatchTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var (a, _) = Operands(Device.Cpu);
        var (d, _) = Operands(device);
        Assert.False(d.IsContiguous);
        TestDevices.AssertClose(a.Exp(), d.Exp(), 1e-6);
        TestDevices.AssertClose(a.Tanh(), d.Tanh(), 1e-6);
        TestDevices.AssertClose(a.Sigmoid(), d.Sigmoid(), 1e-6);
        TestDevices.AssertClose(a.Gelu(), d.Gelu(), 1e-6);
        TestDevices.AssertClose(a.Gelu(tanhApproximation: true), d.Gelu(tanhApproximation: true), 1e-6);
        TestDevices.AssertClose(a.Clamp(-1, 1), d.Clamp(-1, 1), 0);
        TestDevices.AssertClose(a.Relu(), d.Relu(), 0);
        TestDevices.AssertClose(-a, -d, 0);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void CompareAndWhere_OnBroadcastInputs_MatchTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var (a, b) = Operands(Device.Cpu);
        var (da, db) = Operands(device);
        Assert.False(da.IsContiguous);
        TestDevices.AssertClose(a.Gt(b), da.Gt(db), 0);
        TestDevices.AssertClose(a.Eq(a), da.Eq(da), 0);
        TestDevices.AssertClose(Tensor.Where(a.Lt(b), a, b), Tensor.Where(da.Lt(db), da, db), 0);
        TestDevices.AssertClose(a.Gt(0).LogicalAnd(b.Gt(0)), da.Gt(0).LogicalAnd(db.Gt(0)), 0);
        TestDevices.AssertClose(a.Gt(0).LogicalNot(), da.Gt(0).LogicalNot(), 0);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void Elementwise_OnARankSixPermutedView_MatchesTheCpu(string name)
    {
        // A permutation leaves no two dimensions mergeable, so every level of the kernels' index arithmetic runs.
        var device = TestDevices.Parse(name);
        var source = Tensor.Randn([2, 3, 2, 3, 2, 2], generator: new Generator(2));
        var x = source.Permute(5, 3, 1, 0, 2, 4);
        var d = source.To(device).Permute(5, 3, 1, 0, 2, 4);
        Assert.False(d.IsContiguous);
        TestDevices.AssertClose(x.Contiguous(), d.Contiguous(), 0);
        TestDevices.AssertClose(x * 2 + x.Sum(0, keepDim: true), d * 2 + d.Sum(0, keepDim: true), 1e-6);
    }
}
