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
}
