namespace Engine.Peft.Federated;

/// <summary>
/// How <see cref="FederatedSimulator"/> runs its rounds (FedPEFT's harness, spec seeds-remaining.md §11; McMahan et
/// al. 2017's client fraction C).
/// </summary>
/// <param name="ClientFraction">The fraction of clients that take part in a round, in (0, 1]: each round
/// max(1, round(C·K)) distinct clients are drawn uniformly, and the server weights their uploads by their data sizes
/// renormalised over the participants. 1 (the default) is full participation.</param>
/// <param name="SamplingSeed">Seed of the participants' draw (one generator for the run, so the draws are reproducible and the same for every aggregation rule).</param>
public sealed record FederatedOptions(double ClientFraction = 1.0, ulong SamplingSeed = 0)
{
    /// <summary>Throws unless the fraction is in (0, 1].</summary>
    public void Validate()
    {
        if (!(ClientFraction > 0 && ClientFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(ClientFraction), ClientFraction, "FederatedOptions: the client fraction must be in (0, 1]");
    }
}
