namespace Engine.Recording;

/// <summary>
/// Whether ops record themselves on this thread. Engine.Autograd switches it off inside no-grad scopes and
/// during a backward pass that does not build a graph. Thread-local, as in PyTorch.
/// </summary>
public static class GradMode
{
    [ThreadStatic] static bool _disabled;

    /// <summary>True when ops with grad-requiring inputs record themselves.</summary>
    public static bool IsEnabled
    {
        get => !_disabled;
        set => _disabled = !value;
    }

    [ThreadStatic] static Action<OpRecord, Tensor>? _onRecord;

    /// <summary>
    /// Called with each new record and its output when set (anomaly detection uses it to find the first op
    /// whose forward produced NaN or Inf). Null, and free, otherwise. Per thread, like the grad mode itself,
    /// so one thread's anomaly scope ending cannot switch off another's.
    /// </summary>
    public static Action<OpRecord, Tensor>? OnRecord
    {
        get => _onRecord;
        set => _onRecord = value;
    }
}
