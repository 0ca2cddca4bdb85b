namespace Engine.Nn;

/// <summary>
/// Turns architecture parameters α [..., C] into choice weights w [..., C] (each row non-negative, summing to 1), as
/// TangleNAS's samplers do (<c>optimizers/sampler/*.py</c>); gradients flow from w back to α.
/// </summary>
public interface IArchitectureSampler
{
    /// <summary>Short name for logs ("darts", "drnas").</summary>
    string Name { get; }

    /// <summary>The choice weights of <paramref name="alpha"/> along its last dimension.</summary>
    Tensor Weights(Tensor alpha);
}

/// <summary>DARTS's relaxation (Liu et al. 2019, eq. 2): w = softmax(α), deterministic.</summary>
public sealed class DartsSampler : IArchitectureSampler
{
    /// <inheritdoc/>
    public string Name => "darts";

    /// <inheritdoc/>
    public Tensor Weights(Tensor alpha) => alpha.Softmax(-1);
}
