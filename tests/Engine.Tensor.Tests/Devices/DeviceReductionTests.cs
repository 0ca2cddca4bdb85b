using Xunit;

namespace Engine.Tests.Devices;

[Collection("Devices")]
public sealed class DeviceReductionTests
{
    static Tensor Input(Device device) => Tensor.Randn([2, 3, 5], generator: new Generator(7)).To(device).Permute(2, 0, 1); // [5, 2, 3], strided

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void Reductions_OverAxisSets_MatchTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var x = Input(Device.Cpu);
        var d = Input(device);
        TestDevices.AssertClose(x.Sum(), d.Sum(), 1e-6);
        TestDevices.AssertClose(x.Sum([0, 2], keepDim: true), d.Sum([0, 2], keepDim: true), 1e-6);
        TestDevices.AssertClose(x.Mean(1), d.Mean(1), 1e-6);
        TestDevices.AssertClose(x.Amax([1]), d.Amax([1]), 0);
        TestDevices.AssertClose(x.Amin([0, 1]), d.Amin([0, 1]), 0);
        TestDevices.AssertClose(x.Prod([2]), d.Prod([2]), 1e-6);
        TestDevices.AssertClose(x.ArgMax(0), d.ArgMax(0), 0);
        TestDevices.AssertClose(x.ArgMin(2), d.ArgMin(2), 0);
        TestDevices.AssertClose(x.Cumsum(0), d.Cumsum(0), 0);
        var ints = Tensor.Arange(12).Reshape(3, 4);
        TestDevices.AssertClose(ints.Sum(1), ints.To(device).Sum(1), 0);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void SoftmaxAndLogSoftmax_AlongEachAxis_MatchTheCpu(string name)
    {
        var device = TestDevices.Parse(name);
        var x = Input(Device.Cpu);
        var d = Input(device);
        for (int axis = 0; axis < 3; axis++)
        {
            TestDevices.AssertClose(x.Softmax(axis), d.Softmax(axis), 1e-6);
            TestDevices.AssertClose(x.LogSoftmax(axis), d.LogSoftmax(axis), 1e-6);
        }
        var masked = Tensor.FromArray(new float[] { float.NegativeInfinity, 0, 1, 2 }, [2, 2]);
        TestDevices.AssertClose(masked.Softmax(1), masked.To(device).Softmax(1), 1e-6);
    }

    [Theory]
    [MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void Reductions_OfLongRuns_UseGroupReductionsThatMatchTheCpu(string name)
    {
        // Runs of 200 and 600 elements take the one-group-per-output path; a NaN must still win max and min.
        var device = TestDevices.Parse(name);
        var x = Tensor.Randn([200, 3], generator: new Generator(9)).Transpose(0, 1); // [3, 200], strided
        var d = Tensor.Randn([200, 3], generator: new Generator(9)).To(device).Transpose(0, 1);
        TestDevices.AssertClose(x.Sum(1), d.Sum(1), 1e-5);
        TestDevices.AssertClose(x.Sum(), d.Sum(), 1e-5);
        TestDevices.AssertClose(x.Amax([1]), d.Amax([1]), 0);
        TestDevices.AssertClose(x.Amin([0, 1]), d.Amin([0, 1]), 0);
        TestDevices.AssertClose(x.To(DType.Float64).Mean(1), d.To(DType.Float64).Mean(1), 1e-12);
        var withNaN = Tensor.Concat([x, Tensor.Full([3, 1], double.NaN)], 1);
        TestDevices.AssertClose(withNaN.Amax([1]), withNaN.To(device).Amax([1]), 0);
    }
}
