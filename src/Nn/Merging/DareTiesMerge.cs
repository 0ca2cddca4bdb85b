namespace Engine.Nn.Merging;

/// <summary>
/// DARE's drop and rescale in place of TIES' trim (Yu et al. 2024, §4.3, "DARE can be combined with TIES"): random
/// pruning with rescaling, sign election, disjoint mean of the weighted task vectors. PEFT's <c>dare_ties</c> in
/// <c>src/peft/utils/merge_utils.py</c>. Defaults: density 0.2 (PEFT's model-merging guide), λ_i = 1, sign by total;
/// the masks come from <see cref="MergeOptions.Seed"/>.
/// </summary>
public sealed class DareTiesMerge(MergeOptions options) : TaskVectorMerge(options)
{
    /// <inheritdoc/>
    public override string Name => "dare_ties";

    /// <inheritdoc/>
    protected override TaskVectorMethod Method => TaskVectorMethod.DareTies;

    /// <inheritdoc/>
    protected override double DefaultDensity => 0.2;
}
