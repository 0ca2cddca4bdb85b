namespace Engine.Nn.Merging;

/// <summary>
/// The state-dict side of the task-vector merges (task arithmetic, TIES, DARE, magnitude pruning): per floating tensor,
/// the task vectors τ_i = θ_i − θ_base are combined by <see cref="TaskVectorCombination"/> and added back,
/// θ = θ_base + combine(τ_1..τ_n; λ). A subclass is one method: its name, its default density and its
/// <see cref="TaskVectorMethod"/>. Reads <see cref="MergeOptions.Weights"/> (default λ_i = 1), <see cref="MergeOptions.Density"/>
/// (default: the method's), <see cref="MergeOptions.MajoritySign"/> and <see cref="MergeOptions.Seed"/>.
/// Integer and Bool tensors (masks, counters) have no task vector: they are copied from the base when every model holds
/// the same values, and refused otherwise.
/// </summary>
public abstract class TaskVectorMerge(MergeOptions options) : IStateDictMerge
{
    /// <inheritdoc/>
    public abstract string Name { get; }

    /// <summary>The options this merge was built with.</summary>
    public MergeOptions Options { get; } = options;

    /// <summary>Which combination of <see cref="TaskVectorCombination"/> the method is.</summary>
    protected abstract TaskVectorMethod Method { get; }

    /// <summary>The density used when <see cref="MergeOptions.Density"/> is null (methods that do not prune: 1).</summary>
    protected virtual double DefaultDensity => 1;

    /// <summary>The density this merge keeps: 1 for a method that does not prune (it ignores the option), else the option's, else the method's default.</summary>
    public double Density => Method is TaskVectorMethod.TaskArithmetic ? 1 : Options.Density ?? DefaultDensity;

    /// <inheritdoc/>
    public Dictionary<string, Tensor> Merge(IReadOnlyDictionary<string, Tensor> baseModel, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> models)
    {
        MergeInputs.Check(Name, baseModel, models);
        var weights = Options.Weights ?? Enumerable.Repeat(1.0, models.Count).ToList();
        if (weights.Count != models.Count)
            throw new ArgumentException($"{Name}: {weights.Count} weights for {models.Count} models; give one weight per model");
        if (weights.Any(w => !double.IsFinite(w))) throw new ArgumentException($"{Name}: weights must be finite numbers, got [{string.Join(", ", weights)}]");
        if (Method is not TaskVectorMethod.TaskArithmetic) PruningDensity.Check(Name, Density);
        // One stream for the whole merge, over the tensors in name order, so a seed gives the same merge whatever the dictionary order.
        var generator = new Generator(Options.Seed);
        var merged = new Dictionary<string, Tensor>();
        foreach (var name in baseModel.Keys.Order(StringComparer.Ordinal))
        {
            var theta = baseModel[name].Detach();
            if (!theta.DType.IsFloating())
            {
                merged[name] = NonFloating(name, theta, models);
                continue;
            }
            var baseValues = theta.To(DType.Float64);
            var tasks = models.Select(m => m[name].Detach().To(DType.Float64) - baseValues).ToList();
            var combined = TaskVectorCombination.Combine(Method, tasks, weights, Density, Options.MajoritySign, generator);
            merged[name] = (baseValues + combined).To(theta.DType);
        }
        return merged;
    }

    Tensor NonFloating(string name, Tensor theta, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> models)
    {
        for (int i = 0; i < models.Count; i++)
            if (!SameValues(theta, models[i][name].Detach()))
                throw new ArgumentException($"{Name}: '{name}' is {theta.DType.Name()} (no task vector to merge) and model {i} holds other values than the base; only floating tensors can be merged");
        return theta.Clone();
    }

    static bool SameValues(Tensor a, Tensor b) => a.DType switch
    {
        DType.Int64 => a.ToArray<long>().AsSpan().SequenceEqual(b.ToArray<long>()),
        DType.Int32 => a.ToArray<int>().AsSpan().SequenceEqual(b.ToArray<int>()),
        _ => a.ToArray<bool>().AsSpan().SequenceEqual(b.ToArray<bool>()),
    };
}
