namespace Engine.Nn;

/// <summary>
/// The weight-decay mask of "Fantastic Pretraining Optimizers" (structure-and-optimizers.md §3.1: no decay on norms,
/// embeddings and biases by default; levanter <c>OptimizerConfig.build_weight_decay_mask</c>) as two parameter groups.
/// A matrix decays unless every name it has belongs to an <see cref="Embedding"/>: a token embedding tied to a head
/// that is shown as a Linear module (<see cref="Gpt.ShowTiedHead"/>) is decayed as that head, as the engine's earlier
/// name rule in <c>engine train</c> did.
/// </summary>
public static class WeightDecayGroups
{
    /// <summary>Groups <c>decay</c> (matrices, decay <paramref name="weightDecay"/>) and <c>no_decay</c> (the rest), both at rate <paramref name="lr"/>.</summary>
    public static ParamGroup[] Build(Module model, double lr, double weightDecay)
    {
        var (decay, rest) = Split(model.Parameters(), DecayedMatrices(model));
        return [new ParamGroup(decay, lr, weightDecay, "decay"), new ParamGroup(rest, lr, 0, "no_decay")];
    }

    /// <summary>Tensors of the model's <see cref="Embedding"/> modules.</summary>
    internal static HashSet<Tensor> EmbeddingTables(Module model) =>
        new(model.NamedModules().Select(m => m.Module).OfType<Embedding>().Select(e => e.Weight), ReferenceEqualityComparer.Instance);

    /// <summary>The matrices that decay: rank ≥ 2 under at least one name outside an embedding.</summary>
    internal static HashSet<Tensor> DecayedMatrices(Module model)
    {
        var modules = model.NamedModules().ToDictionary(m => m.Name, m => m.Module);
        var result = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (name, p) in model.NamedParameters())
        {
            int dot = name.LastIndexOf('.');
            var owner = modules[dot < 0 ? "" : name[..dot]];
            if (p.Rank >= 2 && owner is not Embedding) result.Add(p);
        }
        return result;
    }

    /// <summary><paramref name="parameters"/> in order, split into those in <paramref name="decayed"/> and the rest.</summary>
    internal static (List<Tensor> Decay, List<Tensor> NoDecay) Split(IEnumerable<Tensor> parameters, HashSet<Tensor> decayed)
    {
        var list = parameters.ToList();
        return (list.Where(decayed.Contains).ToList(), list.Where(p => !decayed.Contains(p)).ToList());
    }
}
