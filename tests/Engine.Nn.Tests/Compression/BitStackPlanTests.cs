using Engine.Nn.Compression;
using Xunit;

namespace Engine.Nn.Tests.Compression;

/// <summary>
/// BitStack's size adjustment (spec adapters-other.md §17): per b the weights are ordered by the loss after raising
/// each alone from b to b+1 blocks, ascending; memory accumulates from one block everywhere; a budget takes the longest
/// prefix that fits, all of it above the total, and a budget below the minimum is a named error.
/// </summary>
public class BitStackPlanTests
{
    [Fact]
    public void Build_OrdersEachLevelByLossAscending_AndRecordsCumulativeMemory()
    {
        // Three weights, three blocks. The loss of a configuration is hand-made: at level b = 1 raising weight 2 helps
        // most, then 0, then 1; at b = 2 the order is 1, 2, 0.
        var calls = new List<string>();
        double Loss(int[] c)
        {
            calls.Add(string.Join(",", c));
            return string.Join(",", c) switch
            {
                "2,1,1" => 5.0, "1,2,1" => 6.0, "1,1,2" => 4.0,
                "3,2,2" => 3.0, "2,3,2" => 1.0, "2,2,3" => 2.0,
                var other => throw new InvalidOperationException($"unexpected configuration {other}"),
            };
        }
        var plan = BitStackPlan.Build([10, 20, 30], 3, baseBytes: 100, Loss);
        Assert.Equal(new[] { "2,1,1", "1,2,1", "1,1,2", "3,2,2", "2,3,2", "2,2,3" }, calls);
        Assert.Equal(new[] { 2, 0, 1, 1, 2, 0 }, plan.Order);
        Assert.Equal(new long[] { 160, 190, 200, 220, 240, 270, 280 }, plan.CumulativeBytes);
        Assert.Equal(new[] { 2, 3, 2 }, plan.CountsAfter(4, 3)); // 2, 0, 1, 1 added to one block each
    }

    [Fact]
    public void Build_NonFiniteLossSortsLast()
    {
        var plan = BitStackPlan.Build([1, 1], 2, 0, c => c[0] == 2 ? double.NaN : 7);
        Assert.Equal(new[] { 1, 0 }, plan.Order);
    }

    [Fact]
    public void Select_TakesTheLongestPrefixUnderTheBudget()
    {
        var plan = BitStackPlan.FromOrder([0, 1, 0], [10, 5], 100);
        Assert.Equal(new long[] { 115, 125, 130, 140 }, plan.CumulativeBytes);
        Assert.Equal(0, plan.Select(115));
        Assert.Equal(0, plan.Select(124));
        Assert.Equal(1, plan.Select(125));
        Assert.Equal(2, plan.Select(139));
        Assert.Equal(3, plan.Select(140));
        Assert.Equal(3, plan.Select(1_000_000));
    }

    [Fact]
    public void Select_BelowTheMinimum_IsNamedError()
    {
        var plan = BitStackPlan.FromOrder([0], [10, 5], 100);
        var e = Assert.Throws<ArgumentException>(() => plan.Select(114));
        Assert.Contains("below the smallest BitStack configuration", e.Message);
        Assert.Contains("115 bytes", e.Message);
    }

    [Fact]
    public void FromOrder_UnknownWeight_IsNamedError() =>
        Assert.Contains("order entry 1 is 5", Assert.Throws<ArgumentException>(() => BitStackPlan.FromOrder([0, 5], [1, 2], 0)).Message);
}
