namespace Engine.Peft.Federated;

/// <summary>
/// FedAvg applied to the LoRA factors (FedIT, Zhang et al. 2024; the baseline of LoRA-FAIR, arXiv 2411.14961 §3.1):
/// B̄ = Σ p_k B_k and Ā = Σ p_k A_k are broadcast. Cheap and communication-equal to the clients' uploads, but
/// B̄Ā ≠ Σ p_k B_k A_k in general: the global model is not the average of the client models (the "aggregation bias").
/// </summary>
public sealed class FactorAveraging : IFederatedAggregation
{
    /// <inheritdoc/>
    public string Name => "fedavg";

    /// <inheritdoc/>
    public FederatedUpdate Aggregate(IReadOnlyList<LoraFactors> clients, IReadOnlyList<double> weights)
    {
        ClientAverage.Check("FactorAveraging", clients, weights);
        return new FederatedUpdate(ClientAverage.Factors(clients, weights));
    }
}
