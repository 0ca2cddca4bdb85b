namespace Engine.Nn.Merging;

/// <summary>The ways <see cref="TaskVectorCombination"/> combines task vectors (PEFT's names in brackets).</summary>
public enum TaskVectorMethod
{
    /// <summary>Σ λ_i τ_i (<c>task_arithmetic</c>; Ilharco et al. 2023, "Editing Models with Task Arithmetic").</summary>
    TaskArithmetic,

    /// <summary>Trim each τ_i to its largest entries, then Σ λ_i τ_i (<c>magnitude_prune</c>).</summary>
    MagnitudePrune,

    /// <summary>Trim, elect signs, disjoint mean of λ_i τ_i (<c>ties</c>; Yadav et al. 2023).</summary>
    Ties,

    /// <summary>Drop and rescale each τ_i, then Σ λ_i τ_i (<c>dare_linear</c>; Yu et al. 2024).</summary>
    DareLinear,

    /// <summary>Drop and rescale, elect signs, disjoint mean of λ_i τ_i (<c>dare_ties</c>).</summary>
    DareTies,
}

/// <summary>
/// One tensor's worth of a task-vector merge: the task tensors of n models (same shape) and one weight λ_i each in,
/// one combined tensor out. These are PEFT's <c>task_arithmetic</c>, <c>magnitude_prune</c>, <c>ties</c>,
/// <c>dare_linear</c> and <c>dare_ties</c> (<c>src/peft/utils/merge_utils.py</c>), built from the steps
/// <see cref="MagnitudePruning"/>, <see cref="RandomPruning"/>, <see cref="MajoritySignMask"/> and
/// <see cref="DisjointMerge"/>. Both the state-dict merges (<see cref="TaskVectorMerge"/>) and PEFT's LoRA
/// combinations (<c>LoraCombination</c>) call this, so each mechanism lives once. As in PEFT the signs are elected on
/// the pruned, unweighted tensors and the weights applied before the disjoint mean.
/// </summary>
public static class TaskVectorCombination
{
    /// <summary>
    /// The combined tensor, in the first tensor's dtype (computed in Float64). <paramref name="density"/> is read by
    /// the pruning methods, <paramref name="majoritySign"/> by the TIES ones, <paramref name="generator"/> (required) by DARE.
    /// <code>var merged = TaskVectorCombination.Combine(TaskVectorMethod.Ties, [t1, t2], [1.0, 1.0], density: 0.2);</code>
    /// </summary>
    /// <exception cref="ArgumentException">No tensors, a weight count that differs, shapes that differ, a bad density, no generator for DARE.</exception>
    public static Tensor Combine(TaskVectorMethod method, IReadOnlyList<Tensor> taskTensors, IReadOnlyList<double> weights,
        double density = 1, MajoritySignMethod majoritySign = MajoritySignMethod.Total, Generator? generator = null)
    {
        string name = method.ToString();
        if (taskTensors.Count == 0 || taskTensors.Count != weights.Count)
            throw new ArgumentException($"TaskVectorCombination.{name}: {taskTensors.Count} task tensors and {weights.Count} weights; give one weight per tensor, at least one");
        var shape = taskTensors[0].Shape;
        for (int i = 0; i < taskTensors.Count; i++)
            if (!taskTensors[i].Shape.SequenceEqual(shape) || !taskTensors[i].DType.IsFloating())
                throw new ArgumentException($"TaskVectorCombination.{name}: task tensor {i} is {taskTensors[i].DType.Name()} {Shapes.Format(taskTensors[i].Shape)}; all must be floating and of tensor 0's shape {Shapes.Format(shape)}");
        if (method is not TaskVectorMethod.TaskArithmetic) PruningDensity.Check($"TaskVectorCombination.{name}", density);
        if (method is TaskVectorMethod.DareLinear or TaskVectorMethod.DareTies && generator is null)
            throw new ArgumentException($"TaskVectorCombination.{name}: DARE draws its drop masks from a generator; pass one (seeded for a reproducible merge)");

        var tensors = taskTensors.Select(t => t.Detach().To(DType.Float64));
        var pruned = method switch
        {
            TaskVectorMethod.TaskArithmetic => tensors,
            TaskVectorMethod.MagnitudePrune or TaskVectorMethod.Ties => tensors.Select(t => MagnitudePruning.Prune(t, density)),
            _ => tensors.Select(t => RandomPruning.Prune(t, density, rescale: true, generator!)),
        };
        var stacked = Tensor.Stack(pruned.ToArray(), 0);
        var lambda = Tensor.FromArray(weights.ToArray(), [weights.Count, .. Enumerable.Repeat(1, shape.Length)]);
        var combined = method is TaskVectorMethod.Ties or TaskVectorMethod.DareTies
            ? DisjointMerge.Mean(stacked * lambda, MajoritySignMask.Of(stacked, majoritySign))
            : (stacked * lambda).Sum(0);
        return combined.To(taskTensors[0].DType);
    }
}
