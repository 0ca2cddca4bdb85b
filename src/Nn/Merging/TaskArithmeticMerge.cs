namespace Engine.Nn.Merging;

/// <summary>
/// Task arithmetic (Ilharco et al. 2023, "Editing Models with Task Arithmetic", §2): θ = θ_base + Σ_i λ_i τ_i with
/// τ_i = θ_i − θ_base; λ_i = 1 each by default (the sum of the task vectors; weights 1/n give the plain average).
/// PEFT's <c>task_arithmetic</c> in <c>src/peft/utils/merge_utils.py</c>. Reads <see cref="MergeOptions.Weights"/> only.
/// <code>var merged = new TaskArithmeticMerge(new MergeOptions(Weights: [0.5, 0.5])).Merge(base, [female, male]);</code>
/// </summary>
public sealed class TaskArithmeticMerge(MergeOptions options) : TaskVectorMerge(options)
{
    /// <inheritdoc/>
    public override string Name => "task_arithmetic";

    /// <inheritdoc/>
    protected override TaskVectorMethod Method => TaskVectorMethod.TaskArithmetic;
}
