namespace Engine.Nn;

/// <summary>
/// The split that Muon and Scion make of a model (levanter <c>muon.py</c>/<c>scion.py</c> <c>create_mask</c>;
/// structure-and-optimizers.md §3.1): the hidden matrices (rank 2, outside embeddings and the output head
/// <c>head</c>/<c>lm_head</c>) get the orthogonalised update; everything else (embeddings, the head, norm gains,
/// biases) gets the other rule at its own rate, split again by <see cref="WeightDecayGroups"/>' mask.
/// </summary>
public static class HiddenMatrixGroups
{
    /// <summary>
    /// One group of hidden matrices at <paramref name="matrixLr"/> with decay <paramref name="weightDecay"/>, and the
    /// rest as <c>{rest}_decay</c>/<c>{rest}_no_decay</c> groups at <paramref name="restLr"/>.
    /// </summary>
    public static (ParamGroup[] Matrix, ParamGroup[] Others) Build(Module model, double matrixLr, double restLr, double weightDecay, string matrixName, string restName)
    {
        var embeddings = WeightDecayGroups.EmbeddingTables(model);
        var matrices = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (name, p) in model.NamedParameters())
            if (p.Rank == 2 && !embeddings.Contains(p) && !IsHead(name)) matrices.Add(p);
        // A tensor also seen under a head's name (a tied head) is not a hidden matrix.
        foreach (var (name, p) in model.NamedParameters())
            if (IsHead(name)) matrices.Remove(p);
        var all = model.Parameters().ToList();
        var (decay, noDecay) = WeightDecayGroups.Split(all.Where(p => !matrices.Contains(p)), WeightDecayGroups.DecayedMatrices(model));
        return ([new ParamGroup(all.Where(matrices.Contains), matrixLr, weightDecay, matrixName)],
            [new ParamGroup(decay, restLr, weightDecay, restName + "_decay"), new ParamGroup(noDecay, restLr, 0, restName + "_no_decay")]);
    }

    static bool IsHead(string name) => name.StartsWith("head.", StringComparison.Ordinal) || name.StartsWith("lm_head.", StringComparison.Ordinal);
}
