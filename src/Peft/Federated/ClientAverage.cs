namespace Engine.Peft.Federated;

/// <summary>
/// The weighted sums every federated LoRA rule is built from (LoRA-FAIR, arXiv 2411.14961, §3; spec
/// adapters-lowrank.md §9): the factor averages B̄ = Σ p_k B_k and Ā = Σ p_k A_k, the ideal update
/// ΔW = Σ p_k B_k A_k, and the relative gap ‖ΔW − B̄Ā‖_F / ‖ΔW‖_F that averaging the factors leaves. All in Float64.
/// </summary>
public static class ClientAverage
{
    /// <summary>Throws unless there is one weight per client, at least one client, and every client's factors have the first client's shapes.</summary>
    public static void Check(string op, IReadOnlyList<LoraFactors> clients, IReadOnlyList<double> weights)
    {
        if (clients.Count == 0) throw new ArgumentException($"{op}: no clients to aggregate");
        if (clients.Count != weights.Count) throw new ArgumentException($"{op}: {clients.Count} clients and {weights.Count} weights; give one weight per client");
        clients[0].CheckShapes(op);
        for (int k = 1; k < clients.Count; k++)
        {
            clients[k].CheckShapes(op);
            if (!clients[k].B.Shape.SequenceEqual(clients[0].B.Shape) || !clients[k].A.Shape.SequenceEqual(clients[0].A.Shape))
                throw new ArgumentException($"{op}: client {k} has B {Shapes.Format(clients[k].B.Shape)} and A {Shapes.Format(clients[k].A.Shape)}, " +
                    $"client 0 has B {Shapes.Format(clients[0].B.Shape)} and A {Shapes.Format(clients[0].A.Shape)}; every client needs the same rank and layer");
        }
    }

    /// <summary>Σ_k p_k X_k in Float64.</summary>
    public static Tensor Of(IReadOnlyList<Tensor> tensors, IReadOnlyList<double> weights)
    {
        var sum = tensors[0].To(DType.Float64) * weights[0];
        for (int k = 1; k < tensors.Count; k++) sum = sum + tensors[k].To(DType.Float64) * weights[k];
        return sum;
    }

    /// <summary>The factor averages (B̄, Ā) (FedAvg applied to each factor).</summary>
    public static LoraFactors Factors(IReadOnlyList<LoraFactors> clients, IReadOnlyList<double> weights)
        => new(Of(clients.Select(c => c.B).ToList(), weights), Of(clients.Select(c => c.A).ToList(), weights));

    /// <summary>The ideal aggregated update ΔW = Σ p_k B_k A_k [out, in] (what FedAvg of the full weights would give).</summary>
    public static Tensor Product(IReadOnlyList<LoraFactors> clients, IReadOnlyList<double> weights)
        => Of(clients.Select(c => c.Product()).ToList(), weights);

    /// <summary>‖x‖_F² (summed over every element).</summary>
    public static double SquaredNorm(Tensor x)
    {
        double s = 0;
        foreach (var v in x.ToDoubleArray()) s += v * v;
        return s;
    }
}
