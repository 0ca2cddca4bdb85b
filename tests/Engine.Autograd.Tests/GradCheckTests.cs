using Xunit;

namespace Engine.Autograd.Tests;

/// <summary>GradCheck itself: it catches wrong gradients, says where, and scales to large inputs by directional checks.</summary>
public class GradCheckTests
{
    // x * y whose backward forgets the factor 2 it claims for y: y's gradient is wrong, x's is right.
    sealed class WrongSecondGradient : Function
    {
        protected override Tensor Forward(FunctionContext ctx, Tensor[] x)
        {
            ctx.SaveForBackward(x[0], x[1]);
            return x[0] * x[1] * x[1];
        }

        protected override Tensor?[] Backward(FunctionContext ctx, Tensor g)
        {
            var (a, b) = (ctx.SavedTensors[0], ctx.SavedTensors[1]);
            return [g * b * b, g * a * b]; // should be 2 a b
        }
    }

    static Tensor Values(int n, double offset) => Tensor.FromArray(Enumerable.Range(0, n).Select(i => offset + 0.01 * i).ToArray());

    [Fact]
    public void Check_OfWrongBackward_FailsNamingTheInputAndElement()
    {
        var result = GradCheck.Check(x => new WrongSecondGradient().Apply(x[0], x[1]), [Values(4, 0.5), Values(4, 1.0)]);
        Assert.False(result.Passed);
        Assert.Equal(1, result.WorstInput);
        Assert.Single(result.WorstIndex);
        Assert.Contains("input 1 at index [", result.Message);
        Assert.Contains("failed", result.Message);
    }

    [Fact]
    public void Assert_OfWrongBackward_Throws()
        => Assert.Throws<GradCheckException>(() => GradCheck.Assert(x => new WrongSecondGradient().Apply(x[0], x[1]), [Values(3, 0.5), Values(3, 1.0)]));

    [Fact]
    public void Check_OfNonDifferentiableOutput_FailsSayingWhy()
    {
        var result = GradCheck.Check(x => x[0].ArgMax(), [Values(3, 0)]);
        Assert.False(result.Passed);
        Assert.Contains("int64", result.Message);
    }

    [Fact]
    public void Check_AboveFullCheckLimit_UsesOnlyDirectionalDerivatives_AndStillCatchesAWrongGradient()
    {
        var options = new GradCheckOptions();
        int n = (int)options.FullCheckLimit + 500;
        int calls = 0;
        var result = GradCheck.Check(x => { calls++; return new WrongSecondGradient().Apply(x[0], x[1]); }, [Values(n, 0.5), Values(n, 1.0)], options);
        Assert.False(result.Passed);
        Assert.True(result.WorstInput < 0, result.Message);
        Assert.Contains("random direction", result.Message);
        // One analytic pass plus two evaluations per direction: no element-by-element differences.
        Assert.Equal(1 + 2 * options.Directions, calls);
    }

    [Fact]
    public void Check_AboveFullCheckLimit_PassesACorrectGradient()
    {
        int n = (int)new GradCheckOptions().FullCheckLimit + 500;
        var result = GradCheck.Check(x => (x[0] * x[1].Square()).Tanh(), [Values(n, -0.5), Values(n, 0.2)]);
        Assert.True(result.Passed, result.Message);
    }

    [Fact]
    public void Check_DifferentiatesOnlyMarkedInputs_WhenSomeAreMarked()
    {
        var a = Values(3, 0.5).RequireGrad();
        var b = Values(3, 1.0); // not marked: its (wrong) gradient is never compared
        var result = GradCheck.Check(x => new WrongSecondGradient().Apply(x[0], x[1]), [a, b]);
        Assert.True(result.Passed, result.Message);
    }
}
