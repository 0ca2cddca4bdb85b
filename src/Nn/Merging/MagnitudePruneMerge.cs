namespace Engine.Nn.Merging;

/// <summary>
/// TIES' trim without its election: each task vector keeps its top-density entries by magnitude
/// (<see cref="MagnitudePruning"/>), then θ = θ_base + Σ_i λ_i τ̃_i. PEFT's <c>magnitude_prune</c> in
/// <c>src/peft/utils/merge_utils.py</c>. Defaults: density 0.2 (as TIES' trim) and λ_i = 1.
/// </summary>
public sealed class MagnitudePruneMerge(MergeOptions options) : TaskVectorMerge(options)
{
    /// <inheritdoc/>
    public override string Name => "magnitude_prune";

    /// <inheritdoc/>
    protected override TaskVectorMethod Method => TaskVectorMethod.MagnitudePrune;

    /// <inheritdoc/>
    protected override double DefaultDensity => 0.2;
}
