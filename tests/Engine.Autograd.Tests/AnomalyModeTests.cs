using Engine.Recording;
using Xunit;
using static Engine.Autograd.Tests.Assertions;

namespace Engine.Autograd.Tests;

/// <summary>
/// Anomaly mode names the first op whose forward produced NaN or whose backward produced NaN or Inf, and only inside
/// its scope.
/// </summary>
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

    static Tensor Float32(params float[] values) => Tensor.FromArray(values);

    [Fact]
    public void Float32ForwardNaN_NamesTheOp_NotTheChecksOwnCast()
    {
        // The old check read values with ToDoubleArray, which records a Cast on a grad-requiring Float32 tensor,
        // observed itself, and blamed "the forward of Cast".
        var x = Float32(1, -1).RequireGrad();
        using (AnomalyMode.Enable())
        {
            var e = Assert.Throws<ArithmeticException>(() => x.Log());
            Assert.Contains("forward of Log produced NaN from inputs without NaN", e.Message);
            Assert.DoesNotContain("Cast", e.Message);
        }
    }

    [Fact]
    public void ForwardNaN_InOpsWhoseInputsDoNotRequireGrad_IsFound()
    {
        var x = Float32(4, -1); // no RequiresGrad: nothing is recorded, the output is still checked
        using (AnomalyMode.Enable())
        {
            Assert.Contains("forward of Sqrt", Assert.Throws<ArithmeticException>(() => x.Sqrt()).Message);
            using (Autograd.NoGrad())
                Assert.Contains("forward of Log", Assert.Throws<ArithmeticException>(() => x.Log()).Message);
            Assert.Contains("forward of Div", Assert.Throws<ArithmeticException>(() => Tensor.FromArray(new[] { 0.0 }).Div(0.0)).Message);
        }
    }

    [Fact]
    public void ForwardInfinity_IsNotAnAnomaly()
    {
        // -inf is a legitimate forward value (masks, log 0); only NaN is reported in the forward.
        var x = Float32(0, 1, 2).RequireGrad();
        using (AnomalyMode.Enable())
        {
            var masked = Tensor.Where(x.Eq(0), Tensor.Scalar(double.NegativeInfinity), x);
            var y = masked.Softmax(0);
            Assert.True(float.IsNegativeInfinity(x.Log().ToArray<float>()[0]));
            y.Sum().Backward();
        }
    }

    [Fact]
    public void NaNArrivingInTheData_IsReportedAtTheFirstOpThatComputesWithIt()
    {
        var x = Float32(1, float.NaN).RequireGrad();
        using (AnomalyMode.Enable())
        {
            var view = x.Reshape(2, 1).Transpose(0, 1); // views only move values: not reported
            var e = Assert.Throws<ArithmeticException>(() => view.Exp());
            Assert.Contains("forward of Exp produced NaN from input 0, which already held NaN", e.Message);
        }
    }

    [Fact]
    public void ForwardNaN_InsideAPublicCompositeOp_NamesTheOutermostPublicOp()
    {
        var rows = Tensor.FromArray(new double[,] { { 1, double.NaN }, { 2, 3 } });
        using (AnomalyMode.Enable())
        {
            var e = Assert.Throws<ArithmeticException>(() => rows.Std(1));
            Assert.StartsWith("Anomaly: the forward of Std (in its ", e.Message); // Std runs Var runs Mean: Std wins
            e = Assert.Throws<ArithmeticException>(() => rows.LogSumExp(1));
            Assert.StartsWith("Anomaly: the forward of LogSumExp (in its ", e.Message);
        }
    }

    [Fact]
    public void UserScope_NamesTheUsersOp_AndTheNameEndsWithTheScope()
    {
        var x = Float32(-1);
        using (AnomalyMode.Enable())
        {
            var e = Assert.Throws<ArithmeticException>(() =>
            {
                using var scope = OpScope.Enter("MyLoss");
                return x.Log();
            });
            Assert.Contains("forward of MyLoss (in its Log step)", e.Message);
            Assert.Null(OpScope.Current); // the throw unwound the scope
            Assert.Contains("forward of Log produced", Assert.Throws<ArithmeticException>(() => x.Log()).Message);
        }
    }

    [Fact]
    public void BackwardNaN_NamesTheRuleThatProducedIt_Float32()
    {
        // sqrt(0) = 0 is finite; the masked branch sends it gradient 0, and Sqrt's rule gives 0 / (2 sqrt 0) = NaN.
        var x = Float32(0, 4).RequireGrad();
        using (AnomalyMode.Enable())
        {
            var y = Tensor.Where(x.Gt(1), x.Sqrt(), x.ZerosLike());
            var e = Assert.Throws<ArithmeticException>(() => y.Sum().Backward());
            Assert.Contains("backward of Sqrt produced NaN in the gradient of input 0", e.Message);
        }
    }

    [Fact]
    public void BackwardAnomaly_InsideAPublicOp_SaysWhichOne()
    {
        var x = Leaf(0, 4);
        using (AnomalyMode.Enable())
        {
            Tensor y;
            using (OpScope.Enter("Root")) y = x.Sqrt();
            var e = Assert.Throws<ArithmeticException>(() => y.Sum().Backward());
            Assert.Contains("backward of Sqrt (inside Root) produced Inf", e.Message);
        }
    }

    [Fact]
    public void SecondOrderGradients_UnderAnomalyMode_AreNotMistakenForAnomalies()
    {
        var x = Float32(1, 2, 3).RequireGrad();
        using (AnomalyMode.Enable())
        {
            var g = Autograd.Grad((x * x * x).Sum(), [x], createGraph: true)[0];
            g.Sum().Backward();
        }
        Close([6, 12, 18], x.Grad!, 1e-6);
    }

    [Fact]
    public void OutsideTheScope_NoHookIsInstalled_AndNoScopeIsPushed()
    {
        using (AnomalyMode.Enable()) Assert.NotNull(OpObserver.Current);
        Assert.Null(OpObserver.Current);
        using (OpScope.Enter("Ignored")) Assert.Null(OpScope.Current); // costs a thread-local read, pushes nothing
        Assert.True(float.IsNaN(Float32(-1).Log().ToArray<float>()[0]));
    }

    [Fact]
    public void TheObserver_SeesEveryOpOnce_RecordedOrNot_WithItsPublicName()
    {
        var seen = new List<string>();
        OpObserver.Current = op => seen.Add(op.Name + "/" + op.PrimitiveName);
        try
        {
            var x = Tensor.FromArray(new double[] { 1, 2 });
            x.Exp();
            using (OpScope.Enter("Outer"))
            using (OpScope.Enter("Inner"))
                x.Neg();
        }
        finally { OpObserver.Current = null; }
        Assert.Equal(["Exp/Exp", "Outer/Neg"], seen);
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
