namespace Engine.Nn.Merging;

/// <summary>
/// DARE then task arithmetic (Yu et al. 2024, "Language Models are Super Mario", §3): each task vector keeps every entry
/// with probability p = density and is divided by p (<see cref="RandomPruning"/>), then θ = θ_base + Σ_i λ_i τ̃_i.
/// PEFT's <c>dare_linear</c> in <c>src/peft/utils/merge_utils.py</c>. Defaults: density 0.2 (PEFT's model-merging
/// guide; the paper drops 90% and more of the deltas of large models) and λ_i = 1; the masks come from
/// <see cref="MergeOptions.Seed"/>.
/// </summary>
public sealed class DareLinearMerge(MergeOptions options) : TaskVectorMerge(options)
{
    /// <inheritdoc/>
    public override string Name => "dare_linear";

    /// <inheritdoc/>
    protected override TaskVectorMethod Method => TaskVectorMethod.DareLinear;

    /// <inheritdoc/>
    protected override double DefaultDensity => 0.2;
}
