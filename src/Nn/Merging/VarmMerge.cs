namespace Engine.Nn.Merging;

/// <summary>
/// FuseChat's VaRM, variation-ratio merging (Wan et al. 2024, "FuseChat: Knowledge Fusion of Chat Models", section 3.3;
/// spec adapters-other.md 20). Each target model was fine-tuned from the pivot (the base passed to
/// <see cref="Merge"/>); per parameter matrix m, Δθ_{j,m} = θ_{j,m} − θ_{pivot,m},
/// W_{j,m} = mean(Δθ_{j,m}²) / Σ_j′ mean(Δθ_{j′,m}²) and θ_m = Σ_j W_{j,m} θ_{j,m}: a model that moved a matrix more
/// gets more say over it.
/// <para>
/// This follows the paper's formula, not the released scripts (fanqiwan/FuseAI <c>FuseChat/merge/VaRM/merge.py</c> at
/// 4135974): those read one analysis file, computed between two targets, for every model, so every model gets the same
/// statistic and the merge degenerates to a plain average (spec pitfall 8).
/// </para>
/// <para>
/// Every floating tensor counts as a "matrix" (vectors too, as the scripts' per-key statistics do). Where no target moved
/// a tensor (Σ_j mean(Δθ²) = 0) the weights are uniform, as in FuseChat-2's SCE, instead of 0/0. Integer tensors are
/// copied from the pivot. VaRM reads nothing from <see cref="MergeOptions"/>.
/// </para>
/// </summary>
public sealed class VarmMerge : IStateDictMerge
{
    /// <inheritdoc/>
    public string Name => "varm";

    /// <inheritdoc/>
    public Dictionary<string, Tensor> Merge(IReadOnlyDictionary<string, Tensor> baseModel, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> models)
    {
        MergeInputs.Check(Name, baseModel, models);
        var result = new Dictionary<string, Tensor>();
        foreach (var (name, b) in baseModel)
        {
            if (!MergeValues.IsMerged(b)) { result[name] = MergeValues.Copy(b); continue; }
            var weights = VariationWeights(MergeValues.Deltas(Name, name, baseModel, models));
            var merged = new double[b.Numel];
            for (int j = 0; j < models.Count; j++)
            {
                var theta = MergeValues.Of(models[j][name]);
                for (int k = 0; k < merged.Length; k++) merged[k] += weights[j] * theta[k];
            }
            result[name] = MergeValues.Like(merged, b);
        }
        return result;
    }

    /// <summary>
    /// The VaRM weights of one matrix: W_j = mean(Δθ_j²) / Σ_j′ mean(Δθ_j′²) for the targets' matrices against the
    /// pivot's (uniform when no target moved it). They sum to 1.
    /// </summary>
    /// <exception cref="ArgumentException">No targets, or a target whose shape or dtype is not the pivot's.</exception>
    public static double[] MatrixWeights(Tensor pivot, IReadOnlyList<Tensor> targets)
    {
        const string name = "matrix";
        var baseModel = new Dictionary<string, Tensor> { [name] = pivot };
        var models = targets.Select(t => (IReadOnlyDictionary<string, Tensor>)new Dictionary<string, Tensor> { [name] = t }).ToList();
        MergeInputs.Check("varm", baseModel, models);
        return VariationWeights(MergeValues.Deltas("varm", name, baseModel, models));
    }

    static double[] VariationWeights(double[][] deltas)
    {
        var variation = deltas.Select(d => d.Length == 0 ? 0 : d.Sum(x => x * x) / d.Length).ToArray();
        double total = variation.Sum();
        return total > 0 ? variation.Select(v => v / total).ToArray() : Enumerable.Repeat(1.0 / deltas.Length, deltas.Length).ToArray();
    }
}
