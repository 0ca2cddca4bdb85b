namespace Engine.Recording;

/// <summary>
/// Names the public op that a run of primitives belongs to, so that what an <see cref="OpObserver"/> reports (and
/// anomaly messages) say <c>CrossEntropy</c> rather than the <c>Reshape</c> or <c>LogSoftmax</c> inside it. Scopes
/// nest; the outermost name wins, because that is the call the user wrote.
/// Does nothing, and costs one thread-local read, while no observer is set.
/// <code>public static Tensor CrossEntropy(...) { using var scope = OpScope.Enter("CrossEntropy"); ... }</code>
/// </summary>
public readonly struct OpScope : IDisposable
{
    [ThreadStatic] static string? _outermost;
    [ThreadStatic] static int _depth;

    readonly bool _entered;

    OpScope(bool entered) => _entered = entered;

    /// <summary>The outermost public op running on this thread while an observer is set; null otherwise.</summary>
    public static string? Current => _outermost;

    /// <summary>Enters the public op <paramref name="name"/> until the returned scope is disposed.</summary>
    public static OpScope Enter(string name)
    {
        if (OpObserver.Current is null) return default;
        if (_depth++ == 0) _outermost = name;
        return new OpScope(true);
    }

    /// <summary>Leaves the scope (only the scope that entered pops, so an observer set or cleared inside is harmless).</summary>
    public void Dispose()
    {
        if (!_entered) return;
        if (--_depth == 0) _outermost = null;
    }
}
