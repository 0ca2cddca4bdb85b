using Engine.Peft.Multitask;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Multitask;

/// <summary>The task-id scope (PEFT's task_ids): per-example and broadcast ids, nesting, and the named refusals.</summary>
public class TaskIdsTests
{
    static readonly PolyConfig Routed = new() { NTasks = 3 };

    [Fact]
    public void Scopes_NestInnermostFirstAndRestoreTheOuterOne()
    {
        Assert.False(TaskIds.InScope);
        using (TaskIds.Begin(2))
        {
            Assert.Equal([2, 2, 2], TaskIds.Resolve(Routed, "Poly", "a", 3));
            using (TaskIds.Begin([0, 1]))
            {
                Assert.Equal([0, 1], TaskIds.Current);
                Assert.Equal([0, 1], TaskIds.Resolve(Routed, "Poly", "a", 2));
            }
            Assert.Null(TaskIds.Current);
            Assert.Equal([2], TaskIds.Resolve(Routed, "Poly", "a", 1));
            using (TaskIds.Begin(Tensor.FromArray(new long[] { 1, 0, 2 }))) Assert.Equal([1, 0, 2], TaskIds.Resolve(Routed, "Poly", "a", 3));
        }
        Assert.False(TaskIds.InScope);
    }

    [Fact]
    public void WithoutAScope_TheConfigsDefaultTaskServesEveryRow_ElseMissingTaskIdsIsThrown()
    {
        Assert.Equal([1, 1], TaskIds.Resolve(Routed with { DefaultTaskId = 1 }, "Poly", "a", 2));
        var e = Assert.Throws<MissingTaskIdsException>(() => TaskIds.Resolve(Routed, "Poly", "tasks", 2));
        Assert.Contains("Poly adapter 'tasks'", e.Message);
        Assert.Contains("TaskScope", e.Message);
    }

    [Fact]
    public void WrongCountsAndUnknownTasks_AreRefused()
    {
        using (TaskIds.Begin([0, 1])) Assert.Contains("2 task ids", Assert.Throws<ArgumentException>(() => TaskIds.Resolve(Routed, "Poly", "a", 3)).Message);
        using (TaskIds.Begin([0, 3])) Assert.Contains("only 3 task(s)", Assert.Throws<ArgumentException>(() => TaskIds.Resolve(Routed, "Poly", "a", 2)).Message);
        Assert.Throws<ArgumentException>(() => TaskIds.Begin([0, -1]));
        Assert.Throws<ArgumentException>(() => TaskIds.Begin(-1));
        Assert.Throws<ArgumentException>(() => TaskIds.Begin(Tensor.FromArray(new long[,] { { 0, 1 } })));
        Assert.False(TaskIds.InScope);
    }

    [Fact]
    public void ATaskRoutedAdapterWithoutTaskIds_ThrowsTheNamedException_AndOtherAdaptersIgnoreTheScope()
    {
        var poly = Peft.Apply(TinyGpt(), new PolyConfig { R = 2, NTasks = 2, TargetModules = ["fc"] });
        Assert.Throws<MissingTaskIdsException>(() => poly.Forward(Ids()));
        var mpt = Peft.Apply(TinyGpt(), new MultitaskPromptTuningConfig { NumVirtualTokens = 2, NumTasks = 2 });
        Assert.Throws<MissingTaskIdsException>(() => mpt.Forward(Ids()));
        Assert.Throws<MissingTaskIdsException>(() => mpt.ActiveInputAdapter!.CreateCache(mpt, 2));
        // Disabled, the adapter does not run and needs no ids.
        using (poly.DisableAdapters()) Assert.Equal(TinyGpt().Forward(Ids()).ToDoubleArray(), poly.Forward(Ids()).ToDoubleArray());

        var lora = Peft.Apply(TinyGpt(), Lora());
        var plain = lora.Forward(Ids()).ToDoubleArray();
        Assert.Equal(plain, lora.ForwardForTasks(Ids(), [5, 7]).ToDoubleArray());
    }
}
