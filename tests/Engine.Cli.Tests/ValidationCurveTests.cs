using Xunit;

namespace Engine.Cli.Tests;

/// <summary>
/// <see cref="ValidationCurve.StepsToReach"/> on hand-made validation curves (evaluations every 10 steps): the answer is
/// the first measured step at or below the target, read off by eye.
/// </summary>
public sealed class ValidationCurveTests
{
    static readonly (int Step, double Loss)[] Curve = [(10, 3.0), (20, 2.6), (30, 2.4), (40, 2.5), (50, 2.3)];

    [Theory]
    [InlineData(2.45, 30)] // reached in the middle, and the later rise to 2.5 does not matter
    [InlineData(2.4, 30)]  // equal to the target counts as reached
    [InlineData(2.3, 50)]  // reached only at the last evaluation
    [InlineData(3.5, 10)]  // reached at the first evaluation
    public void StepsToReach_IsTheFirstEvaluationAtOrBelowTheTarget(double target, int expected) =>
        Assert.Equal(expected, ValidationCurve.StepsToReach(Curve, target));

    [Fact]
    public void StepsToReach_IsNull_WhenNeverReached()
    {
        Assert.Null(ValidationCurve.StepsToReach(Curve, 2.29));
        Assert.Null(ValidationCurve.StepsToReach([(10, double.NaN), (20, double.PositiveInfinity)], 5.0));
        Assert.Null(ValidationCurve.StepsToReach([], 5.0));
    }

    [Fact]
    public void Median_OfOddAndEvenCounts()
    {
        Assert.Equal(2.0, ValidationCurve.Median([3.0, 1.0, 2.0]));
        Assert.Equal(2.5, ValidationCurve.Median([4.0, 1.0, 2.0, 3.0]));
        Assert.True(double.IsNaN(ValidationCurve.Median([])));
    }
}
