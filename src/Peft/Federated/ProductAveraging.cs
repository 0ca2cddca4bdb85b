namespace Engine.Peft.Federated;

/// <summary>
/// The ideal aggregation: the global model carries exactly ΔW = Σ p_k B_k A_k, the average of the client models.
/// A rank-r pair cannot hold ΔW (its rank is up to K·r), so the clients continue as in FedEx-LoRA (Singhal et al. 2024,
/// arXiv 2410.09432): the factor averages (B̄, Ā) are broadcast and the residual ΔW − B̄Ā is folded into the frozen
/// base weight. Training therefore continues from the same factors as with <see cref="FactorAveraging"/>, nothing is
/// re-initialised or truncated, and the global model equals the averaged client models after every round. The cost
/// is that the server sends a full-size residual per layer (FedAvg of full weights' communication), which is why
/// LoRA-FAIR approximates it instead.
/// </summary>
public sealed class ProductAveraging : IFederatedAggregation
{
    /// <inheritdoc/>
    public string Name => "product";

    /// <inheritdoc/>
    public FederatedUpdate Aggregate(IReadOnlyList<LoraFactors> clients, IReadOnlyList<double> weights)
    {
        ClientAverage.Check("ProductAveraging", clients, weights);
        var averages = ClientAverage.Factors(clients, weights);
        return new FederatedUpdate(averages, ClientAverage.Product(clients, weights) - averages.Product());
    }
}
