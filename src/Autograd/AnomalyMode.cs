using Engine.Recording;

namespace Engine.Autograd;

/// <summary>
/// Finds the first op whose forward output holds NaN, or whose backward produced a NaN or infinite gradient, and
/// names it (torch.autograd.detect_anomaly). Every op's output is scanned, so use it for debugging only:
/// <c>using (AnomalyMode.Enable()) { var loss = Losses.CrossEntropy(model.Forward(x), y); loss.Backward(); }</c>
/// Outside a scope nothing is scanned: the forward hook is null and ops pay one thread-local read.
/// </summary>
/// <remarks>
/// What is checked, and how it differs from PyTorch, whose anomaly mode checks only the backward, for NaN only:
/// <list type="bullet">
/// <item>Forward: NaN only, in the output of every op that computes values (recorded or not, whether or not its
/// inputs require grad); an infinity is a legitimate forward value (attention masks, log(0) fed to logsumexp).
/// Ops that only move or copy values (views, casts, copies, concatenation) cannot create a NaN and are not scanned,
/// so a NaN that arrives in the data is reported at the first op that computes with it. A primitive run inside a
/// public composite op (<c>CrossEntropy</c>, <c>Var</c>, ...; see <see cref="OpScope"/>) is reported by that name.</item>
/// <item>Backward: NaN and infinity in the gradient a derivative rule returns for an input that requires grad. An
/// infinite gradient is never a usable update and is where a later NaN starts (inf·0, inf - inf), so it is reported
/// at the op that made it, one step earlier than PyTorch would.</item>
/// </list>
/// Checks read values through raw host copies that run no op, so a check never records, observes or reports itself.
/// </remarks>
public static class AnomalyMode
{
    [ThreadStatic] static int _depth;
    [ThreadStatic] static Action<ObservedOp>? _previousObserver;

    /// <summary>True inside an <see cref="Enable"/> scope on this thread.</summary>
    public static bool IsEnabled => _depth > 0;

    /// <summary>Turns anomaly detection on until the returned scope is disposed.</summary>
    public static IDisposable Enable()
    {
        if (_depth++ == 0)
        {
            _previousObserver = OpObserver.Current;
            OpObserver.Current = CheckForward;
        }
        return new Scope();
    }

    sealed class Scope : IDisposable
    {
        bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            if (--_depth == 0)
            {
                OpObserver.Current = _previousObserver;
                _previousObserver = null;
            }
        }
    }

    // Kinds whose output is a rearrangement or copy of input values: they cannot create a NaN.
    static bool OnlyMovesValues(OpKind kind) => kind is OpKind.Reshape or OpKind.Permute or OpKind.Expand or OpKind.Slice
        or OpKind.Select or OpKind.Flip or OpKind.Cast or OpKind.Clone or OpKind.Concat;

    static void CheckForward(ObservedOp op)
    {
        if (OnlyMovesValues(op.Kind) || !op.Output.HasNaN()) return;
        var nanInputs = Enumerable.Range(0, op.Inputs.Length).Where(i => op.Inputs[i].HasNaN()).ToArray();
        string origin = nanInputs.Length == 0 ? "from inputs without NaN" : $"from input {string.Join(", ", nanInputs)}, which already held NaN";
        string inside = op.PublicName is null ? "" : $" (in its {op.PrimitiveName} step)";
        throw new ArithmeticException(
            $"Anomaly: the forward of {op.Name}{inside} produced NaN {origin} (output shape {Shapes.Format(op.Output.Shape)}; inputs {string.Join(", ", op.Inputs.Select(i => Shapes.Format(i.Shape)))})");
    }

    /// <summary>
    /// Suspends the forward check while a backward pass runs its rules: their ops compute gradients, which
    /// <see cref="CheckBackward"/> checks and names by the rule. Returns the observer to restore.
    /// </summary>
    internal static Action<ObservedOp>? SuspendForward()
    {
        var observer = OpObserver.Current;
        if (IsEnabled) OpObserver.Current = null;
        return observer;
    }

    internal static void ResumeForward(Action<ObservedOp>? observer)
    {
        if (IsEnabled) OpObserver.Current = observer;
    }

    internal static void CheckBackward(OpRecord record, Tensor?[] grads)
    {
        if (!IsEnabled) return;
        for (int i = 0; i < grads.Length; i++)
            if (grads[i] is { } g && i < record.Inputs.Length && record.Inputs[i].RequiresGrad && g.HasNonFinite())
            {
                string what = g.HasNaN() ? "NaN" : "Inf";
                string inside = record.Scope is null ? "" : $" (inside {record.Scope})";
                throw new ArithmeticException(
                    $"Anomaly: the backward of {record.Name}{inside} produced {what} in the gradient of input {i} (shape {Shapes.Format(g.Shape)})");
            }
    }
}
