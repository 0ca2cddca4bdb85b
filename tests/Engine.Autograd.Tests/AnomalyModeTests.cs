using Xunit;
using static Engine.Autograd.Tests.Assertions;

namespace Engine.Autograd.Tests;

/// <summary>Anomaly mode names the first op whose forward or backward produced NaN or Inf, and only inside its scope.</summary>
public class AnomalyModeTests
{
    [Fact]
    public void InsideTheScope_ForwardNaN_NamesTheOpThatProducedIt()
    {
        var x = Leaf(1, -1);
        using (AnomalyMode.Enable())
        {
            var y = x * 2; // finite: no complaint
            var e = Assert.Throws<ArithmeticException>(() => y.Log());
            Assert.Contains("forward of Log", e.Message);
        }
    }

    [Fact]
    public void InsideTheScope_BackwardInf_NamesTheOpWhoseRuleProducedIt()
    {
        var x = Leaf(0, 4);
        using (AnomalyMode.Enable())
        {
            var loss = (x.Sqrt() * 3).Sum(); // sqrt is finite at 0, its derivative 1/(2 sqrt x) is not
            var e = Assert.Throws<ArithmeticException>(() => loss.Backward());
            Assert.Contains("backward of Sqrt", e.Message);
            Assert.Contains("input 0", e.Message);
        }
    }

    [Fact]
    public void OutsideTheScope_NaNAndInfPassSilently()
    {
        using (AnomalyMode.Enable()) { }
        Assert.False(AnomalyMode.IsEnabled);
        var x = Leaf(0, -1);
        var y = x.Log();
        Assert.True(double.IsNaN(y.ToDoubleArray()[1]));
        x.Sqrt().Sum().Backward();
        Assert.True(double.IsPositiveInfinity(x.Grad!.ToDoubleArray()[0]));
    }

    [Fact]
    public void NestedScopes_StayEnabledUntilTheOutermostEnds()
    {
        var x = Leaf(-1);
        using (AnomalyMode.Enable())
        {
            using (AnomalyMode.Enable()) { }
            Assert.True(AnomalyMode.IsEnabled);
            Assert.Throws<ArithmeticException>(() => x.Log());
        }
        Assert.False(AnomalyMode.IsEnabled);
    }

    [Fact]
    public void InsideTheScope_PowOfNegativeBaseByConstantExponent_IsNotAnAnomaly()
    {
        // The exponent needs no gradient, so ln(base) (NaN for a negative base) must not be computed for it.
        var x = Leaf(-2, 3);
        using (AnomalyMode.Enable()) x.Pow(2.0).Sum().Backward();
        Close([-4, 6], x.Grad!);
    }
}

public class AnomalyModeThreadTests
{
    [Fact]
    public void ScopeEndingOnOneThread_DoesNotSwitchOffAnotherThreadsScope()
    {
        using var enabledOnWorker = new ManualResetEventSlim();
        using var mainScopeEnded = new ManualResetEventSlim();
        Exception? caught = null;
        var worker = new Thread(() =>
        {
            using (AnomalyMode.Enable())
            {
                enabledOnWorker.Set();
                mainScopeEnded.Wait();
                try { Assertions.Leaf(-1).Log(); }
                catch (ArithmeticException e) { caught = e; }
            }
        });
        worker.Start();
        enabledOnWorker.Wait();
        using (AnomalyMode.Enable()) { }
        mainScopeEnded.Set();
        worker.Join();
        Assert.NotNull(caught);
        Assert.Contains("forward of Log", caught!.Message);
    }
}
