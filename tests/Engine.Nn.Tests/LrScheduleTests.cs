using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

public class LrScheduleTests
{
    [Fact]
    public void WarmupCosine_RisesLinearlyThenFollowsHalfACosineToTheFloor()
    {
        var s = new WarmupCosineSchedule(WarmupSteps: 10, TotalSteps: 110, MinFactor: 0.1);
        AssertClose(0.1, s.Factor(0), 1e-12);
        AssertClose(0.5, s.Factor(4), 1e-12);
        AssertClose(1.0, s.Factor(9), 1e-12);
        AssertClose(1.0, s.Factor(10), 1e-12);
        AssertClose(0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * 0.25)), s.Factor(35), 1e-12);
        AssertClose(0.55, s.Factor(60), 1e-12);
        AssertClose(0.1, s.Factor(110), 1e-12);
        AssertClose(0.1, s.Factor(500), 1e-12);
    }

    [Fact]
    public void LinearDecay_FallsLinearlyToZeroAfterWarmup()
    {
        var s = new LinearDecaySchedule(WarmupSteps: 5, TotalSteps: 105);
        AssertClose(0.2, s.Factor(0), 1e-12);
        AssertClose(1.0, s.Factor(5), 1e-12);
        AssertClose(0.5, s.Factor(55), 1e-12);
        AssertClose(0.0, s.Factor(105), 1e-12);
        AssertClose(0.0, s.Factor(200), 1e-12);
    }

    [Fact]
    public void Constant_IsOneAfterAnOptionalWarmup()
    {
        Assert.Equal(1.0, new ConstantSchedule().Factor(0));
        Assert.Equal(1.0, new ConstantSchedule().Factor(1000));
        var w = new ConstantSchedule(WarmupSteps: 4);
        Assert.Equal([0.25, 0.5, 0.75, 1.0, 1.0], Enumerable.Range(0, 5).Select(i => w.Factor(i)));
    }

    [Fact]
    public void LrScheduler_SetsEachGroupsRateFromItsBaseRate()
    {
        var opt = new Sgd([new ParamGroup([Tensor.Zeros(1).RequireGrad()], 0.1), new ParamGroup([Tensor.Zeros(1).RequireGrad()], 0.02)]);
        LrScheduler.Apply(opt, new LinearDecaySchedule(0, 10), 5);
        AssertClose(0.05, opt.Groups[0].Lr, 1e-12);
        AssertClose(0.01, opt.Groups[1].Lr, 1e-12);
        LrScheduler.Apply(opt, new LinearDecaySchedule(0, 10), 8);
        AssertClose(0.02, opt.Groups[0].Lr, 1e-12);
        Assert.Equal(0.1, opt.Groups[0].BaseLr);
    }
}
