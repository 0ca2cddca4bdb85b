namespace Engine.Nn;

/// <summary>
/// Sees every routing decision of the <see cref="MoeFeedForward"/> layers it is attached to (<see cref="MoeFeedForward.Observer"/>):
/// the router observer hook of spec structure-and-optimizers.md 2.4 (multilingual routing analysis, debugging).
/// Called once per forward pass, after the routing and before the experts run.
/// </summary>
public interface IMoeRouterObserver
{
    /// <summary>Records <paramref name="decision"/> (probabilities and chosen experts) of <paramref name="layer"/>.</summary>
    void Observe(MoeFeedForward layer, RouterDecision decision);
}
