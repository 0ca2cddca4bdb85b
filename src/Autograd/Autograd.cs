using Engine.Recording;

namespace Engine.Autograd;

/// <summary>The user-facing autograd API: backward passes, functional gradients, grad-mode scopes.</summary>
public static class Autograd
{
    /// <summary>
    /// Accumulates d(output)/d(leaf) into every leaf's <see cref="Tensor.Grad"/> (and retained intermediates').
    /// <paramref name="gradient"/> is the output's gradient (ones for one-element outputs when omitted).
    /// With <paramref name="createGraph"/> the backward pass is recorded so gradients can be differentiated again.
    /// </summary>
    public static void Backward(this Tensor output, Tensor? gradient = null, bool retainGraph = false, bool createGraph = false)
    {
        var grads = Backprop.Run(output, gradient, retainGraph || createGraph, createGraph);
        foreach (var (tensor, g) in grads)
        {
            if (!tensor.IsLeaf && !tensor.RetainsGrad) continue;
            var value = createGraph ? g : g.Detach();
            tensor.Grad = tensor.Grad is null ? value : createGraph ? tensor.Grad + value : (tensor.Grad + value).Detach();
        }
    }

    /// <summary>
    /// Gradients of <paramref name="output"/> with respect to <paramref name="inputs"/>, returned instead of accumulated
    /// (torch.autograd.grad). An input the output does not depend on gets zeros.
    /// </summary>
    public static Tensor[] Grad(Tensor output, Tensor[] inputs, Tensor? gradient = null, bool retainGraph = false, bool createGraph = false)
    {
        var grads = Backprop.Run(output, gradient, retainGraph || createGraph, createGraph);
        return inputs.Select(x => grads.TryGetValue(x, out var g) ? (createGraph ? g : g.Detach()) : x.ZerosLike()).ToArray();
    }

    /// <summary>Clears the gradient of each tensor.</summary>
    public static void ZeroGrad(this IEnumerable<Tensor> tensors)
    {
        foreach (var t in tensors) t.Grad = null;
    }

    /// <summary>
    /// True when a backward pass without <c>retainGraph</c> has already gone through the op that produced
    /// <paramref name="output"/>: a new loss built on it could not be differentiated through it again. A module that
    /// caches a computed tensor between forwards (a generated weight) recomputes it then.
    /// </summary>
    public static bool IsGraphReleased(Tensor output) => output.Producer is { } record && GraphRelease.IsReleased(record);

    /// <summary>A scope in which ops are not recorded: <c>using (Autograd.NoGrad()) { ... }</c>.</summary>
    public static IDisposable NoGrad() => new GradModeScope(false);

    /// <summary>A scope in which ops are recorded again, inside a no-grad region.</summary>
    public static IDisposable EnableGrad() => new GradModeScope(true);

    sealed class GradModeScope : IDisposable
    {
        readonly bool _previous = GradMode.IsEnabled;
        bool _disposed;

        public GradModeScope(bool enabled) => GradMode.IsEnabled = enabled;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            GradMode.IsEnabled = _previous;
        }
    }
}
