using Xunit;

namespace Engine.Nn.Tests.Ssm;

/// <summary>SpaceTime's fixed preprocessing kernels: differencing and moving-average residuals.</summary>
public class PreprocessingSsmTests
{
    [Fact]
    public void DifferencingKernels_AreTheSignedBinomialRows_CyclingOverChannels()
    {
        var diff = new DifferencingSsm(channels: 6);
        AssertClose(new double[]
        {
            1, 0, 0, 0,
            1, -1, 0, 0,
            1, -2, 1, 0,
            1, -3, 3, -1,
            1, 0, 0, 0,
            1, -1, 0, 0,
        }, diff.Kernel.ToDoubleArray(), 0, "kernel");
        Assert.Empty(diff.Parameters());
    }

    [Fact]
    public void OrderOneDifference_OfALinearRamp_IsConstant_AndOrderTwoOfAQuadraticToo()
    {
        const int length = 20;
        var values = new double[length * 4];
        for (int t = 0; t < length; t++)
            for (int h = 0; h < 4; h++) values[t * 4 + h] = h == 2 ? 0.5 * t * t + 3 : 2.5 * t - 7;
        var y = new DifferencingSsm(4).Forward(Tensor.FromArray(values, [1, length, 4])).ToDoubleArray();
        for (int t = 1; t < length; t++) Assert.Equal(2.5, y[t * 4 + 1], 4);
        for (int t = 2; t < length; t++) Assert.Equal(1.0, y[t * 4 + 2], 4);
        for (int t = 0; t < length; t++) Assert.Equal(values[t * 4], y[t * 4], 4);   // order 0: the identity
        for (int t = 3; t < length; t++) Assert.Equal(0.0, y[t * 4 + 3], 3);          // order 3 of a ramp
    }

    [Fact]
    public void MovingAverageResidual_SubtractsTheTrailingMean()
    {
        var ma = new MovingAverageResidualSsm([1, 3]);
        var u = Tensor.FromArray(new double[] { 1, 1, 2, 2, 4, 4, 8, 8 }, [1, 4, 2]);
        // Window 1: u - u = 0. Window 3: u_t - (u_t + u_{t-1} + u_{t-2}) / 3, zeros before the start.
        AssertClose(new[] { 0, 1 - 1 / 3.0, 0, 2 - 3 / 3.0, 0, 4 - 7 / 3.0, 0, 8 - 14 / 3.0 }, ma.Forward(u).ToDoubleArray(), 1e-5, "y");
        var random = MovingAverageResidualSsm.Random(5, 4, 9, new Generator(1));
        Assert.All(random.Windows, m => Assert.InRange(m, 4, 9));
        Assert.Equal(new[] { 5, random.Windows.Max() }, random.Kernel.Shape);
    }

    [Fact]
    public void BadArguments_AreNamed()
    {
        Assert.Contains("DifferencingSsm", Assert.Throws<ArgumentException>(() => new DifferencingSsm(4).Forward(Tensor.Zeros(1, 5, 3))).Message);
        Assert.Throws<ArgumentException>(() => new DifferencingSsm(4, orders: 5, kernelDim: 4));
        Assert.Throws<ArgumentException>(() => new DifferencingSsm(0));
        Assert.Throws<ArgumentException>(() => new MovingAverageResidualSsm([3, 0]));
        Assert.Throws<ArgumentException>(() => MovingAverageResidualSsm.Random(3, 5, 4));
    }
}
