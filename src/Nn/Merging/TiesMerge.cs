namespace Engine.Nn.Merging;

/// <summary>
/// TIES-merging (Yadav et al. 2023, "TIES-Merging: Resolving Interference When Merging Models", §4): trim each task
/// vector to its top-k% entries by magnitude, elect each entry's sign, take the mean of the weighted entries that agree
/// with it, θ = θ_base + mean. PEFT's <c>ties</c> in <c>src/peft/utils/merge_utils.py</c>. Defaults: density 0.2
/// (the paper's k = 20%, also PEFT's model-merging guide; PEFT's function itself has no default) and λ_i = 1 (the
/// paper's λ when no validation set is used); sign by <see cref="MajoritySignMethod.Total"/> (the paper's mass).
/// </summary>
public sealed class TiesMerge(MergeOptions options) : TaskVectorMerge(options)
{
    /// <inheritdoc/>
    public override string Name => "ties";

    /// <inheritdoc/>
    protected override TaskVectorMethod Method => TaskVectorMethod.Ties;

    /// <inheritdoc/>
    protected override double DefaultDensity => 0.2;
}
