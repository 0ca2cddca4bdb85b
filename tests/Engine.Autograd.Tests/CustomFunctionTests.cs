using Engine.Recording;
using Xunit;
using static Engine.Autograd.Tests.Assertions;

namespace Engine.Autograd.Tests;

/// <summary>User-defined ops (Function): their backward is used, gradient-checked, and may give no gradient to an input.</summary>
public class CustomFunctionTests
{
    sealed class Cube : Function
    {
        protected override Tensor Forward(FunctionContext ctx, Tensor[] x)
        {
            ctx.SaveForBackward(x[0]);
            return x[0] * x[0] * x[0];
        }

        protected override Tensor?[] Backward(FunctionContext ctx, Tensor g) => [g * 3 * ctx.SavedTensors[0].Square()];
    }

    // y = x * scale where the scale is treated as a constant: no gradient for it, by design.
    sealed class ScaleByConstant : Function
    {
        protected override Tensor Forward(FunctionContext ctx, Tensor[] x)
        {
            ctx.SaveForBackward(x[1]);
            return x[0] * x[1];
        }

        protected override Tensor?[] Backward(FunctionContext ctx, Tensor g) => [g * ctx.SavedTensors[0], null];
    }

    [Fact]
    public void CustomFunction_IsRecordedAsCustom_AndItsBackwardGivesTheGradient()
    {
        var x = Leaf(1, -2, 0.5);
        var y = new Cube().Apply(x);
        Assert.Equal(OpKind.Custom, y.Producer!.Kind);
        Assert.Equal(nameof(Cube), y.Producer.Name);
        y.Sum().Backward();
        Close([3, 12, 0.75], x.Grad!);
    }

    [Fact]
    public void CustomFunction_PassesGradCheck()
        => GradProperty.Check(x => new Cube().Apply(x[0]).Sin(), [Tensor.FromArray(new[] { 0.3, -0.8, 1.2, 0.1 }, [2, 2])]);

    [Fact]
    public void CustomFunction_ReturningNullGradient_LeavesThatInputsGradNull()
    {
        var x = Leaf(1, 2);
        var s = Leaf(3, -1);
        new ScaleByConstant().Apply(x, s).Sum().Backward();
        Close([3, -1], x.Grad!);
        Assert.Null(s.Grad);
    }

    [Fact]
    public void CustomFunction_ForwardRunsWithoutRecording()
    {
        var x = Leaf(2);
        var y = new Cube().Apply(x);
        // The output's only record is the custom op itself; nothing of x * x * x inside.
        Assert.All(y.Producer!.Inputs, i => Assert.Same(x, i));
        Assert.Single(y.Producer.Inputs);
    }

    [Fact]
    public void CustomFunction_WithOpsInBackward_SupportsSecondDerivatives()
    {
        var x = Leaf(0.5, -1.5);
        var g = Autograd.Grad(new Cube().Apply(x).Sum(), [x], createGraph: true)[0];
        Close([6 * 0.5, 6 * -1.5], Autograd.Grad(g.Sum(), [x])[0]);
    }
}
