namespace Engine.Recording;

/// <summary>
/// One op's output as an <see cref="OpObserver"/> sees it.
/// </summary>
/// <param name="Kind">The primitive op that computed <paramref name="Output"/>.</param>
/// <param name="PrimitiveName">The primitive's display name (the kind, or a custom or non-differentiable op's name).</param>
/// <param name="PublicName">The outermost public op running when the primitive ran (<c>CrossEntropy</c>, <c>Var</c>), from <see cref="OpScope"/>; null outside any.</param>
/// <param name="Inputs">The primitive's inputs.</param>
/// <param name="Output">What it produced.</param>
public readonly record struct ObservedOp(OpKind Kind, string PrimitiveName, string? PublicName, Tensor[] Inputs, Tensor Output)
{
    /// <summary>The name a user knows: the public op when inside one, the primitive otherwise.</summary>
    public string Name => PublicName ?? PrimitiveName;
}

/// <summary>
/// Sees the output of every op <c>Engine.Tensor</c> computes, whether or not an input requires grad and whether or
/// not recording is on (anomaly detection uses it). Unlike the autograd record, it is not limited to ops that
/// build a graph. Per thread; null, and free apart from one thread-local read per op, when not set.
/// An observer must not run tensor ops itself (they would be observed in turn): read values with raw host reads.
/// </summary>
public static class OpObserver
{
    [ThreadStatic] static Action<ObservedOp>? _current;

    /// <summary>The observer of this thread's ops, or null.</summary>
    public static Action<ObservedOp>? Current
    {
        get => _current;
        set => _current = value;
    }
}
