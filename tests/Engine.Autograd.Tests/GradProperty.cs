using Engine.Recording;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Engine.Autograd.Tests;

/// <summary>
/// The harness every gradient property goes through: runs an FsCheck property with a small number of cases and
/// asserts <see cref="GradCheck.Check"/> passes. When <see cref="RecordTraversed"/> is active it also notes which
/// op kinds the checked function's backward pass goes through, so <see cref="OpCoverageTests"/> can prove that the
/// test named for an op really reaches that op.
/// </summary>
static class GradProperty
{
    static readonly AsyncLocal<HashSet<OpKind>?> Traversed = new();
    static readonly AsyncLocal<int?> MaxTestOverride = new();

    /// <summary>Runs <paramref name="body"/> for <paramref name="maxTest"/> generated cases; FsCheck reports the failing case.</summary>
    public static void ForAll<T>(Gen<T> gen, Action<T> body, int maxTest = 30)
    {
        var config = Config.QuickThrowOnFailure.WithMaxTest(MaxTestOverride.Value ?? maxTest).WithQuietOnSuccess(true);
        Prop.ForAll(gen.ToArbitrary(), body).Check(config);
    }

    /// <summary>Asserts that autograd's gradients of <paramref name="func"/> at <paramref name="inputs"/> match finite differences.</summary>
    public static void Check(Func<Tensor[], Tensor> func, Tensor[] inputs, GradCheckOptions? options = null)
    {
        var result = GradCheck.Check(Observed(func), inputs, options);
        Assert.True(result.Passed, result.Message);
    }

    /// <summary>Asserts that the second derivatives of <paramref name="func"/> match finite differences of its gradient.</summary>
    public static void CheckSecondOrder(Func<Tensor[], Tensor> func, Tensor[] inputs, GradCheckOptions? options = null)
    {
        var result = GradCheck.CheckSecondOrder(Observed(func), inputs, options);
        Assert.True(result.Passed, result.Message);
    }

    /// <summary>
    /// Runs <paramref name="action"/> (a test method) with every property cut to <paramref name="maxTest"/> cases,
    /// and returns the op kinds whose derivative rules its gradient checks went through.
    /// </summary>
    public static HashSet<OpKind> RecordTraversed(Action action, int maxTest = 12)
    {
        var seen = new HashSet<OpKind>();
        var (previousSeen, previousMax) = (Traversed.Value, MaxTestOverride.Value);
        Traversed.Value = seen;
        MaxTestOverride.Value = maxTest;
        try { action(); }
        finally { (Traversed.Value, MaxTestOverride.Value) = (previousSeen, previousMax); }
        return seen;
    }

    // Wraps the checked function so that, while recording, the records Backprop will walk are noted: those reachable
    // from the output through inputs that require grad and are not leaves (the same test Backprop's walk uses).
    static Func<Tensor[], Tensor> Observed(Func<Tensor[], Tensor> func) => xs =>
    {
        var y = func(xs);
        if (Traversed.Value is { } seen) Walk(y, seen);
        return y;
    };

    static void Walk(Tensor root, HashSet<OpKind> seen)
    {
        var stack = new Stack<Tensor>([root]);
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance) { root };
        while (stack.Count > 0)
        {
            var t = stack.Pop();
            if (!t.RequiresGrad || t.IsLeaf || t.Producer is not { } op) continue;
            seen.Add(op.Kind);
            foreach (var input in op.Inputs)
                if (visited.Add(input)) stack.Push(input);
        }
    }
}
