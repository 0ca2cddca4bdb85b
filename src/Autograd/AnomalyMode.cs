using Engine.Recording;

namespace Engine.Autograd;

/// <summary>
/// Finds the first op whose forward output or backward gradient holds NaN or Inf and names it
/// (torch.autograd.detect_anomaly). Costs a scan of every recorded tensor, so use it for debugging only:
/// <c>using (AnomalyMode.Enable()) { loss.Backward(); }</c>
/// </summary>
public static class AnomalyMode
{
    [ThreadStatic] static int _depth;

    /// <summary>True inside an <see cref="Enable"/> scope on this thread.</summary>
    public static bool IsEnabled => _depth > 0;

    /// <summary>Turns anomaly detection on until the returned scope is disposed.</summary>
    public static IDisposable Enable()
    {
        _depth++;
        GradMode.OnRecord = CheckForward;
        return new Scope();
    }

    sealed class Scope : IDisposable
    {
        bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            if (--_depth == 0) GradMode.OnRecord = null;
        }
    }

    static void CheckForward(OpRecord record, Tensor output)
    {
        if (!IsEnabled) return;
        if (HasNonFinite(output))
            throw new ArithmeticException($"Anomaly: the forward of {record.Name} produced NaN or Inf (output shape {Shapes.Format(output.Shape)}; inputs {string.Join(", ", record.Inputs.Select(i => Shapes.Format(i.Shape)))})");
    }

    internal static void CheckBackward(OpRecord record, Tensor?[] grads)
    {
        if (!IsEnabled) return;
        for (int i = 0; i < grads.Length; i++)
            if (grads[i] is { } g && HasNonFinite(g))
                throw new ArithmeticException($"Anomaly: the backward of {record.Name} produced NaN or Inf in the gradient of input {i} (shape {Shapes.Format(g.Shape)})");
    }

    static bool HasNonFinite(Tensor t) => t.DType.IsFloating() && t.ToDoubleArray().Any(v => !double.IsFinite(v));
}
