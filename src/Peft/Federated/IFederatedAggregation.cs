namespace Engine.Peft.Federated;

/// <summary>
/// A server-side aggregation of federated LoRA (one class per rule, one file each): from the factors that the clients
/// trained in a round, and their weights p_k (non-negative, summing to 1), the factors every client starts the next
/// round from. <see cref="FederatedSimulator"/> calls it once per adapted layer.
/// </summary>
public interface IFederatedAggregation
{
    /// <summary>The rule's name as <c>engine federated</c> prints it (<c>fedavg</c>, <c>product</c>, <c>lora-fair</c>).</summary>
    string Name { get; }

    /// <summary>The server's update for one layer from the clients' factors <paramref name="clients"/> and their weights <paramref name="weights"/>.</summary>
    /// <exception cref="ArgumentException">No clients, a weight count that differs, or factors whose shapes differ (<see cref="ClientAverage.Check"/>).</exception>
    FederatedUpdate Aggregate(IReadOnlyList<LoraFactors> clients, IReadOnlyList<double> weights);
}
