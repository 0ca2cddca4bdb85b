using DocExamples;

namespace Engine.Docs.Tests;

/// <summary>docs/autograd.md: the custom function and the FsCheck property over it.</summary>
public sealed class AutogradDocTests
{
    [Fact]
    public void SoftsignComputesXOverOnePlusAbsXAndItsDerivative()
    {
        double[] values = [-3, -0.5, 0.25, 2];
        var x = Tensor.FromArray(values).RequireGrad();
        var y = new Softsign().Apply(x);
        y.Sum().Backward();
        AssertClose(values.Select(v => v / (1 + Math.Abs(v))).ToArray(), y.ToDoubleArray(), 1e-6, "softsign");
        AssertClose(values.Select(v => 1 / ((1 + Math.Abs(v)) * (1 + Math.Abs(v)))).ToArray(), x.Grad!.ToDoubleArray(), 1e-6, "derivative");
    }

    [Fact]
    public void ThePropertyOfTheDocPasses() => AutogradProperty.Run();

    [Fact]
    public void SoftsignsBackwardCanBeDifferentiatedAgain()
    {
        // The comment in the example claims it; away from the kink of |x| at 0.
        var x = Tensor.FromArray(new double[] { -1.5, -0.4, 0.3, 1.2 });
        var r = GradCheck.CheckSecondOrder(t => new Softsign().Apply(t[0]), [x]);
        Assert.True(r.Passed, r.Message);
    }
}
