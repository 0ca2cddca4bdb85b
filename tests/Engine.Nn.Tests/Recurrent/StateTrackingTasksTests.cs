using Xunit;

namespace Engine.Nn.Tests.Recurrent;

public class StateTrackingTasksTests
{
    [Fact]
    public void Parity_LabelsAreTheRunningXorOfTheBits()
    {
        var (bits, labels) = StateTrackingTasks.Parity(40, new Generator(3));
        for (int t = 0; t < bits.Length; t++)
            Assert.Equal(bits.Take(t + 1).Sum() % 2, labels[t]);
    }

    [Fact]
    public void S3Composition_IsAGroupOperationWithIdentityAndInverses()
    {
        for (int a = 0; a < 6; a++)
        {
            Assert.Equal(a, StateTrackingTasks.Compose(0, a));
            Assert.Equal(a, StateTrackingTasks.Compose(a, 0));
            Assert.Contains(Enumerable.Range(0, 6), b => StateTrackingTasks.Compose(a, b) == 0);
            for (int b = 0; b < 6; b++)
                for (int c = 0; c < 6; c++)
                    Assert.Equal(StateTrackingTasks.Compose(StateTrackingTasks.Compose(a, b), c), StateTrackingTasks.Compose(a, StateTrackingTasks.Compose(b, c)));
        }
        // S3 is not abelian: some pair does not commute.
        Assert.Contains(Enumerable.Range(0, 36), i => StateTrackingTasks.Compose(i / 6, i % 6) != StateTrackingTasks.Compose(i % 6, i / 6));
    }

    [Fact]
    public void S3_LabelsApplyThePermutationsInOrder()
    {
        var (tokens, labels) = StateTrackingTasks.S3(25, new Generator(4));
        int[] arrangement = [0, 1, 2];
        for (int t = 0; t < tokens.Length; t++)
        {
            // Applying token t's permutation after the previous ones, directly on an arrangement.
            var p = StateTrackingTasks.S3Elements[tokens[t]];
            arrangement = [p[arrangement[0]], p[arrangement[1]], p[arrangement[2]]];
            Assert.Equal(arrangement, StateTrackingTasks.S3Elements[labels[t]]);
        }
    }
}
