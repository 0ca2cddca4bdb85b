using Engine.Recording;

namespace Engine;

// The few in-place writes the engine allows: optimiser steps and checkpoint loading. They are never recorded.
public sealed partial class Tensor
{
    /// <summary>
    /// Overwrites this tensor's elements with <paramref name="source"/>'s (broadcast to this shape, converted to this
    /// dtype), like torch's <c>copy_</c>. Views of the same storage see the change. Not recorded: a tensor that
    /// requires grad may only be written inside a no-grad scope.
    /// </summary>
    public Tensor CopyFrom(Tensor source)
    {
        if (RequiresGrad && GradMode.IsEnabled)
            throw new InvalidOperationException("CopyFrom: a tensor that requires grad can only be overwritten inside a no-grad scope (Autograd.NoGrad())");
        RequireSameDevice("CopyFrom", this, source);
        Shapes.Broadcast("CopyFrom", _shape, source._shape);
        Backend.Copy(source.Expand(_shape).Strided, Strided);
        return this;
    }

    /// <summary>Sets every element to <paramref name="value"/> in place (not recorded; see <see cref="CopyFrom"/>).</summary>
    public Tensor Fill(double value)
    {
        if (RequiresGrad && GradMode.IsEnabled)
            throw new InvalidOperationException("Fill: a tensor that requires grad can only be overwritten inside a no-grad scope (Autograd.NoGrad())");
        Backend.Fill(Strided, value);
        return this;
    }
}

public sealed partial class Tensor
{
    /// <summary>
    /// One fused Adam/AdamW update of this contiguous parameter and its contiguous moment buffers, in place
    /// (see <see cref="Backends.IBackend.AdamStep"/>). Used by the optimisers; not recorded.
    /// </summary>
    internal void AdamStepInPlace(Tensor grad, Tensor expAvg, Tensor expAvgSq, double beta1, double beta2, double eps, double stepSize, double c2, double decay)
    {
        Require(IsContiguous && expAvg.IsContiguous && expAvgSq.IsContiguous, "AdamStep: parameter and moments must be contiguous");
        var g = grad.To(DType).Contiguous();
        Backend.AdamStep(Strided, g.Strided, expAvg.Strided, expAvgSq.Strided, beta1, beta2, eps, stepSize, c2, decay);
    }
}
