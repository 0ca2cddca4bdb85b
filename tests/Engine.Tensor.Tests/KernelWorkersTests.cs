using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests;

/// <summary>The dedicated kernel threads: every part runs exactly once, errors reach the caller, nesting and
/// concurrent callers run inline instead of deadlocking.</summary>
public class KernelWorkersTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(64)]
    public void For_RunsEveryPartExactlyOnce(int parts)
    {
        for (int round = 0; round < 200; round++)
        {
            var runs = new int[parts];
            KernelWorkers.For(parts, p => Interlocked.Increment(ref runs[p]));
            Assert.All(runs, count => Assert.Equal(1, count));
        }
    }

    [Fact]
    public void For_ZeroParts_RunsNothing()
    {
        bool ran = false;
        KernelWorkers.For(0, _ => ran = true);
        Assert.False(ran);
    }

    [Fact]
    public void For_RethrowsAPartsException_AndKeepsWorking()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            KernelWorkers.For(4, p => { if (p == 3) throw new InvalidOperationException("part 3 failed"); }));
        Assert.Equal("part 3 failed", error.Message);
        int sum = 0;
        KernelWorkers.For(4, p => Interlocked.Add(ref sum, p + 1));
        Assert.Equal(10, sum);
    }

    [Fact]
    public void For_NestedInsideAPart_RunsInline()
    {
        var runs = new int[4, 3];
        KernelWorkers.For(4, outer => KernelWorkers.For(3, inner => Interlocked.Increment(ref runs[outer, inner])));
        foreach (int count in runs) Assert.Equal(1, count);
    }

    [Fact]
    public void For_FromManyThreadsAtOnce_EachCallerGetsItsOwnParts()
    {
        // Callers that find the workers busy run their parts themselves; none may see another's parts.
        var sums = new long[8];
        Parallel.For(0, sums.Length, caller =>
        {
            for (int round = 0; round < 300; round++)
                KernelWorkers.For(5, p => Interlocked.Add(ref sums[caller], p + 1));
        });
        Assert.All(sums, sum => Assert.Equal(300 * 15, sum));
    }

    [Fact]
    public void For_WaitsForSlowParts()
    {
        var done = new bool[2];
        KernelWorkers.For(2, p =>
        {
            if (p == 1) Thread.Sleep(50);
            done[p] = true;
        });
        Assert.True(done[0] && done[1]);
    }
}
